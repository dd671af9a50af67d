"""A tenant's mode: shadow (rules run on real events, EH is read, TH writes are only recorded as
"would have"), live, or paused (deliveries are stored, jobs wait).

The tenant file's `mode` is where a new tenant starts (shadow when it says nothing); once support
switches it, the database holds the mode and the file no longer matters.
"""

from typing import TYPE_CHECKING, Any

from thsync.config.tenants import Tenant
from thsync.core.errors import UnknownMode
from thsync.store.states import SHADOW_OUTCOMES
from thsync.tribal_habits.client import THClient
from thsync.tribal_habits.shadow import ShadowTHClient

if TYPE_CHECKING:
    from thsync.services import Services

MODES = ("shadow", "live", "paused")


def mode_of(services: "Services", tenant: Tenant) -> str:
    row = services.store.tenant_state.get_mode(tenant.id)
    return row["mode"] if row else tenant.mode


def paused_tenants(services: "Services") -> list[str]:
    return [t.id for t in services.registry.tenants() if mode_of(services, t) == "paused"]


def set_mode(services: "Services", tenant: Tenant, mode: str, changed_by: str) -> None:
    if mode not in MODES:
        raise UnknownMode(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    services.store.tenant_state.set_mode(tenant.id, mode, changed_by)


def waiting(services: "Services", tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """What switching to live would face: jobs waiting, and what shadow would have written."""
    store = services.store
    row = services.store.tenant_state.get_mode(tenant.id) or {}
    since = row.get("shadow_since")
    shadow_jobs = services.store.history.with_outcomes(tenant.id, SHADOW_OUTCOMES, since)
    return {
        "queued": [
            job.__dict__ for job in store.history.find(tenant_id=tenant.id, status="queued")
        ],
        "retry": [job.__dict__ for job in store.history.find(tenant_id=tenant.id, status="retry")],
        "would_have": [job.__dict__ for job in shadow_jobs],
    }


def go_live(services: "Services", tenant: Tenant, changed_by: str, replay: bool) -> list[int]:
    """Switch to live; with `replay`, sync once more each person shadow would have written,
    from their latest delivery (EH is read afresh, so the write reflects today's record)."""
    set_mode(services, tenant, "live", changed_by)
    if not replay:
        return []
    latest: dict[str, Any] = {}
    for job in waiting(services, tenant)["would_have"]:
        if job["employee_id"] not in latest and job["delivery_ids"]:
            latest[job["employee_id"]] = job["delivery_ids"][-1]
    queued = [services.store.jobs.queue_replay(delivery_id) for delivery_id in latest.values()]
    return [job_id for job_id in queued if job_id is not None]


def client_class(services: "Services", tenant: Tenant) -> type[THClient]:
    """Shadow mode: TH writes are recorded in the attempt's call log, not sent."""
    return ShadowTHClient if mode_of(services, tenant) == "shadow" else THClient
