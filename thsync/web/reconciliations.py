"""Reconciliation on the dashboard: the tenant's runs, one drift report, and "Reconcile now".
Each page has a JSON twin. A run takes minutes under the rate limits, so the button plans it as
a scheduled action due now, which the worker runs (once, across processes)."""

from flask import Blueprint, abort, jsonify, redirect, render_template, url_for

from thsync.people.reconcile import LISTS
from thsync.web.access import services, support_only
from thsync.web.tenants import when

bp = Blueprint("reconciliations", __name__)


def tenant_or_404(tenant_id):
    tenant, _ = services().registry.get(tenant_id)
    if tenant is None:
        abort(404)
    return tenant


def runs_data(tenant_id) -> dict:
    tenant = tenant_or_404(tenant_id)
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


@bp.get("/tenants/<tenant_id>/reconciliations")
def runs_page(tenant_id):
    data = {**runs_data(tenant_id), "tenant": tenant_or_404(tenant_id)}
    return render_template("reconciliations.html", **data, lists=LISTS, when=when)


@bp.get("/tenants/<tenant_id>/reconciliations.json")
def runs_json(tenant_id):
    return jsonify(runs_data(tenant_id))


@bp.post("/tenants/<tenant_id>/reconciliations")
@support_only
def reconcile_now(tenant_id):
    tenant_or_404(tenant_id)
    svc = services()
    reason = "asked for on the dashboard"
    svc.store.schedule.plan(tenant_id, "", "reconcile", svc.clock.now(), reason)
    return redirect(url_for("reconciliations.runs_page", tenant_id=tenant_id))


def report_data(tenant_id, rec_id) -> dict:
    tenant_or_404(tenant_id)
    run = services().store.reconciliations.get(rec_id)
    if run is None or run["tenant_id"] != tenant_id:
        abort(404)
    return {"reconciliation": run}


@bp.get("/tenants/<tenant_id>/reconciliations/<int:rec_id>")
def report_page(tenant_id, rec_id):
    data = report_data(tenant_id, rec_id)
    tenant = tenant_or_404(tenant_id)
    return render_template("reconciliation.html", **data, tenant=tenant, lists=LISTS, when=when)


@bp.get("/tenants/<tenant_id>/reconciliations/<int:rec_id>.json")
def report_json(tenant_id, rec_id):
    return jsonify(report_data(tenant_id, rec_id))


def init_app(app) -> None:
    app.register_blueprint(bp)
