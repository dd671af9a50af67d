"""Reconciliation on the dashboard: the tenant's runs, one drift report, and "Reconcile now".
Each page has a JSON twin. A run takes minutes under the rate limits, so the button plans it as
a scheduled action due now, which the worker runs (once, across processes)."""

from typing import Any

from flask import Blueprint, Flask, abort, redirect, url_for
from flask.typing import ResponseReturnValue

from thsync.config.tenants import Tenant
from thsync.people.reconcile import LISTS
from thsync.web.access import support_only
from thsync.web.pages import Page, page, services, tenant_or_404

bp = Blueprint("reconciliations", __name__)


def runs_data(tenant: Tenant) -> dict[str, Any]:
    tenant_id = tenant.id
    store = services().store
    runs = store.reconciliations.find(tenant_id, limit=30)
    for run in runs:
        run.pop("report", None)
    pending = store.schedule.pending(tenant_id, "", "reconcile")
    return {
        "tenant": {"id": tenant.id, "name": tenant.name},
        "reconciliations": runs,
        "next_due_at": pending["due_at"] if pending else None,
    }


@page(bp, "/tenants/<tenant_id>/reconciliations", template="reconciliations/runs.html")
def runs_page(tenant_id: str) -> Page:
    tenant, _ = tenant_or_404(tenant_id)
    return Page(runs_data(tenant), html={"lists": LISTS})


@bp.post("/tenants/<tenant_id>/reconciliations")
@support_only
def reconcile_now(tenant_id: str) -> ResponseReturnValue:
    tenant_or_404(tenant_id)
    svc = services()
    reason = "asked for on the dashboard"
    svc.store.schedule.plan(tenant_id, "", "reconcile", svc.clock.now(), reason)
    return redirect(url_for("reconciliations.runs_page", tenant_id=tenant_id))


def report_data(tenant_id: str, rec_id: int) -> dict[str, Any]:
    run = services().store.reconciliations.get(rec_id)
    if run is None or run["tenant_id"] != tenant_id:
        abort(404)
    return {"reconciliation": run}


@page(
    bp, "/tenants/<tenant_id>/reconciliations/<int:rec_id>", template="reconciliations/report.html"
)
def report_page(tenant_id: str, rec_id: int) -> Page:
    tenant, _ = tenant_or_404(tenant_id)
    return Page(report_data(tenant_id, rec_id), html={"tenant": tenant, "lists": LISTS})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
