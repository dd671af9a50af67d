"""Go-live pages: the checklist (with EH's set-up steps and the SSO key) and the tenant's mode.
Each page has a JSON twin (`.json`); support's actions are POST forms with the CSRF token."""

import json
import uuid
from typing import Any

from flask import Blueprint, Flask, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from thsync.config.tenants import Tenant
from thsync.people import checklist, modes
from thsync.rules.ruleset import RuleSet
from thsync.web.access import signed_in, support_only
from thsync.web.pages import page, services, tenant_or_404
from thsync.web.tenants import eh_events

bp = Blueprint("dashboard", __name__)


def setup_steps(tenant: Tenant, ruleset: RuleSet) -> dict[str, Any]:
    """What the customer types into EH, with every value they need ready to copy."""
    svc = services()
    connection = svc.store.connections.get(tenant.id) or {}
    base = svc.settings["PUBLIC_URL"]
    return {
        "redirect_uri": base + "/oauth/callback",
        "connected": connection.get("status") == "connected",
        "org_uuid": tenant.eh_org_uuid or connection.get("org_uuid"),
        "webhook_url": f"{base}/webhooks/{tenant.id}/{tenant.webhook_token}",
        "events": eh_events(ruleset),
    }


def checklist_data(tenant_id: str) -> dict[str, Any]:
    tenant, ruleset = tenant_or_404(tenant_id)
    svc = services()
    items = checklist.items(svc, tenant, ruleset)
    return {
        "tenant": {"id": tenant.id, "name": tenant.name, "mode": modes.mode_of(svc, tenant)},
        "items": items,
        "done": sum(item["state"] != "waiting" for item in items),
        "setup": setup_steps(tenant, ruleset),
        "sso": checklist.sso(svc, tenant, ruleset),
    }


@page(bp, "/tenants/<tenant_id>/checklist", template="golive/checklist.html", endpoint="checklist")
def checklist_page(tenant_id: str) -> dict[str, Any]:
    return checklist_data(tenant_id)


@bp.post("/tenants/<tenant_id>/checklist/<item>")
@support_only
def mark_item(tenant_id: str, item: str) -> ResponseReturnValue:
    tenant_or_404(tenant_id)
    if item not in checklist.BY_KEY:
        abort(404)
    not_applicable = request.form.get("not_applicable") == "1"
    services().store.tenant_state.mark_item(tenant_id, item, signed_in().name, not_applicable)
    return redirect(url_for("dashboard.checklist", tenant_id=tenant_id))


# -- modes ------------------------------------------------------------------------------------


def mode_data(tenant_id: str) -> dict[str, Any]:
    tenant, _ = tenant_or_404(tenant_id)
    svc = services()
    row = svc.store.tenant_state.get_mode(tenant.id)
    return {
        "tenant": {"id": tenant.id, "name": tenant.name},
        "mode": modes.mode_of(svc, tenant),
        "changed_by": row["changed_by"] if row else None,
        "changed_at": row["changed_at"] if row else None,
        "modes": list(modes.MODES),
        "waiting": modes.waiting(svc, tenant),
    }


@page(bp, "/tenants/<tenant_id>/mode", template="golive/mode.html")
@support_only
def mode_page(tenant_id: str) -> dict[str, Any]:
    return mode_data(tenant_id)


@bp.post("/tenants/<tenant_id>/mode")
@support_only
def switch_mode(tenant_id: str) -> ResponseReturnValue:
    """shadow → live needs the confirmation form (which listed what is waiting)."""
    tenant, _ = tenant_or_404(tenant_id)
    svc = services()
    wanted = request.form.get("mode", "")
    if wanted not in modes.MODES:
        abort(400, "mode must be shadow, live or paused")
    current = modes.mode_of(svc, tenant)
    if current == "shadow" and wanted == "live":
        if request.form.get("confirm") != "yes":
            return redirect(url_for("dashboard.mode_page", tenant_id=tenant_id))
        replay = request.form.get("replay") == "1"
        modes.go_live(svc, tenant, signed_in().name, replay)
    else:
        modes.set_mode(svc, tenant, wanted, signed_in().name)
    return redirect(url_for("dashboard.mode_page", tenant_id=tenant_id))


@bp.post("/tenants/<tenant_id>/test-events")
@support_only
def send_test_event(tenant_id: str) -> ResponseReturnValue:
    """Support's test event: stored and synced exactly like a webhook, marked as support's."""
    tenant, ruleset = tenant_or_404(tenant_id)
    event, employee_id = request.form.get("event", ""), request.form.get("employee_id", "").strip()
    if event not in eh_events(ruleset) or not employee_id:
        abort(400, "pick one of the tenant's events and give an EH employee id")
    body = json.dumps(
        {
            "event": event,
            "event_id": f"test_{uuid.uuid4().hex}",
            "data": {"id": employee_id},
            "test": True,
        }
    )
    meta = {
        "event_type": event,
        "event_id": None,
        "employee_id": employee_id,
        "dedup_key": f"test:{uuid.uuid4().hex}",
    }
    headers = {"User-Agent": "thsync test event", "X-Sent-By": signed_in().name}
    services().store.deliveries.accept(tenant.id, headers=headers, body=body, meta=meta)
    return redirect(url_for("web.tenant_page", tenant_id=tenant_id))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
