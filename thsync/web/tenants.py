"""Status pages: every tenant and one tenant's overview, each with its JSON twin (`.json`)."""

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue

from thsync.config.tenants import Tenant
from thsync.people.modes import mode_of
from thsync.people.reconcile import EVENT as RECONCILE_EVENT
from thsync.rules.ruleset import RuleSet
from thsync.store.schedule import SCHEDULED_EVENT
from thsync.web.access import customer_ok, signed_in
from thsync.web.pages import Page, json_requested, page, services, tenant_or_404

if TYPE_CHECKING:
    from thsync.services import Services

# Events the server raises itself (schedules, reconciliation): nothing EH sends or support tests.
INTERNAL_EVENTS = {*SCHEDULED_EVENT.values(), RECONCILE_EVENT}

ADMIN_ROLES = ("admin", "owner")

bp = Blueprint("web", __name__)


def eh_events(ruleset: RuleSet | None) -> list[str]:
    """The EH events a tenant's rules listen to: what to tick in EH, what support may test."""
    return [name for name in (ruleset.events if ruleset else ()) if name not in INTERNAL_EVENTS]


def tenant_summary(tenant: Tenant) -> dict[str, Any]:
    svc = services()
    connection = svc.vault.status(tenant.id)
    counts = svc.store.history.count(tenant.id)
    return {
        "id": tenant.id,
        "name": tenant.name,
        "time_zone": tenant.time_zone,
        "eh_connection": connection.get("status"),
        "eh_reason": connection.get("reason"),
        "org_uuid": tenant.eh_org_uuid or connection.get("org_uuid"),
        "last_webhook_at": svc.store.deliveries.last_received_at(tenant.id),
        "jobs": counts,
        "queue_depth": counts.get("queued", 0) + counts.get("retry", 0),
        "failures_open": counts.get("failed", 0),
        "mode": mode_of(svc, tenant),
        "th_key": th_key_status(svc, tenant),
        "events_today": svc.store.deliveries.count_since(tenant.id, start_of_day(svc, tenant)),
        "drain_minutes": drain_minutes(counts, svc.settings["TH_CALLS_PER_MINUTE"]),
    }


def th_key_health(calls: list[dict[str, Any]]) -> str:
    """From one attempt's TH calls: refused (401/403), valid (any other answer), or unknown."""
    statuses = [c["status"] for c in calls if c["service"] == "th" and c["status"] is not None]
    if any(status in (401, 403) for status in statuses):
        return "refused"
    return "valid" if statuses else "unknown"


def th_key_status(svc: "Services", tenant: Tenant) -> str:
    """What TH last said to the tenant's key (TH has no endpoint to check a key by itself)."""
    for job in svc.store.history.find(tenant_id=tenant.id, limit=5):
        attempts = svc.store.history.attempts(job.id)
        health = th_key_health(attempts[-1]["calls"]) if attempts else "unknown"
        if health != "unknown":
            return health
    return "unknown"


def start_of_day(svc: "Services", tenant: Tenant) -> float:
    now = datetime.fromtimestamp(svc.clock.now(), ZoneInfo(tenant.time_zone))
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def drain_minutes(counts: dict[str, int], th_per_minute: int) -> float:
    """An estimate: a sync costs about two TH calls (a look-up, then a write)."""
    waiting = counts.get("queued", 0) + counts.get("retry", 0) + counts.get("running", 0)
    return round(waiting * 2 / max(th_per_minute, 1), 1)


def authoriser_warning(info: dict[str, Any] | None) -> str | None:
    """The sync runs as whoever authorised; an ordinary employee's account breaks when they
    leave, so a dedicated admin "service user" is what we ask for."""
    if not info:
        return None
    roles = {m.get("role") for m in info.get("memberships") or []}
    if roles & set(ADMIN_ROLES):
        return None
    return (
        f"{info.get('name') or info.get('email')} is not an Employment Hero admin (role: "
        f"{', '.join(sorted(r for r in roles if r)) or 'unknown'}). The sync stops when this "
        "person leaves: reconnect with a dedicated admin service user."
    )


def index_data() -> dict[str, Any]:
    registry = services().registry
    return {
        "tenants": [tenant_summary(t) for t in registry.tenants()],
        "load_errors": registry.errors(),
    }


def customer_home() -> ResponseReturnValue:
    """A customer's home is their own tenant; the list of every tenant is support's alone, so
    its JSON twin is refused rather than redirected."""
    if json_requested():
        abort(403)
    return redirect(url_for("web.tenant_page", tenant_id=signed_in().tenant_id))


@page(bp, "/", template="tenants/index.html")
@customer_ok
def index() -> dict[str, Any] | ResponseReturnValue:
    if not signed_in().is_support:
        return customer_home()
    return index_data()


def tenant_data(tenant: Tenant) -> dict[str, Any]:
    tenant_id = tenant.id
    store = services().store
    deliveries = store.deliveries.find(tenant_id, limit=50)
    for delivery in deliveries:
        delivery.pop("body", None)
        delivery["headers"] = json.loads(delivery["headers"] or "{}")
    jobs = [job.__dict__ for job in store.history.find(tenant_id=tenant_id, limit=50)]
    authorised_by = (store.connections.get(tenant_id) or {}).get("authorised_by")
    return {
        "tenant": tenant_summary(tenant),
        "authorised_by": authorised_by,
        "authoriser_roles": [m.get("role") for m in (authorised_by or {}).get("memberships", [])],
        "authoriser_warning": authoriser_warning(authorised_by),
        "deliveries": deliveries,
        "jobs": jobs,
        "load_errors": services().registry.errors().get(tenant_id, []),
        "webhook_path": f"/webhooks/{tenant_id}/<token>",
    }


@page(bp, "/tenants/<tenant_id>", template="tenants/tenant.html")
def tenant_page(tenant_id: str) -> Page:
    tenant, ruleset = tenant_or_404(tenant_id)
    return Page(tenant_data(tenant), html={"test_events": eh_events(ruleset)})


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    services().store.history.next_due()  # touches the database
    return jsonify(status="ok")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
