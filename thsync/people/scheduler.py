"""The worker's share of the schedule: fire due scheduled actions (each once across processes,
each becoming a job) and keep each tenant's periodic reconciliation planned. A reconciliation
runs as a tenant-wide job that any worker claims, never inside the tick: it takes minutes."""

import logging
from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from thsync.people.modes import paused_tenants
from thsync.people.timing import DAY

if TYPE_CHECKING:
    from thsync.services import Services

log = logging.getLogger(__name__)


def next_reconcile_at(
    now: float, options: dict[str, Any], zone: str, after_run: bool
) -> float | None:
    """The next periodic reconciliation: the first at reconcile_at_hour (tenant's time), then
    every reconcile_every_hours after the one that ran."""
    hours = options.get("reconcile_every_hours") or 0
    if hours <= 0:
        return None
    if after_run:
        return now + hours * 3600
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    hour = int(options.get("reconcile_at_hour") or 0) % 24
    first = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if first.timestamp() <= now:
        first = datetime.combine(local.date() + DAY, time(hour), ZoneInfo(zone))
    return first.timestamp()


def plan_reconciliations(services: "Services") -> None:
    """Make sure each tenant with a period has its next reconciliation planned."""
    store, now = services.store, services.clock.now()
    paused = set(paused_tenants(services))
    for tenant in services.registry.tenants():
        _, ruleset = services.registry.get(tenant.id)
        if ruleset is None or tenant.id in paused:
            continue  # a paused tenant's reconciliation is planned again once it resumes
        at = next_reconcile_at(now, ruleset.options, tenant.time_zone, after_run=False)
        pending = store.schedule.pending(tenant.id, "", "reconcile")
        if at is None and pending:
            store.schedule.cancel(action_id=pending["id"], reason="reconcile_every_hours is 0")
        elif at is not None and pending is None:
            store.schedule.plan(tenant.id, "", "reconcile", at, "periodic reconciliation")


def tick(services: "Services") -> list[dict[str, Any]]:
    """Fire what is due (each action once across processes): each is queued as a job."""
    fired = services.store.schedule.fire_due()
    for action in fired:
        log.info("scheduled %s of %s fired as job %s", *_what(action))
    return fired


def _what(action: dict[str, Any]) -> tuple[str, str, int | None]:
    return action["action"], action["employee_id"] or action["tenant_id"], action["job_id"]


def plan_next_reconciliation(services: "Services", tenant_id: str) -> None:
    """After a run: the next one reconcile_every_hours from now."""
    tenant, ruleset = services.registry.get(tenant_id)
    if tenant is None or ruleset is None:  # the registry gives both or neither
        return
    now = services.clock.now()
    at = next_reconcile_at(now, ruleset.options, tenant.time_zone, after_run=True)
    if at is not None:
        services.store.schedule.plan(tenant_id, "", "reconcile", at, "periodic reconciliation")


class Ticker:
    """The worker's share of the schedule: fire due actions on every loop; check each
    tenant's reconciliation plan at most once a minute (it reads every tenant's row)."""

    PLAN_EVERY = 60.0

    def __init__(self, services: "Services") -> None:
        self.services = services
        self.planned_at = float("-inf")

    def tick(self) -> list[dict[str, Any]]:
        now = self.services.clock.now()
        if now - self.planned_at >= self.PLAN_EVERY:
            self.planned_at = now
            plan_reconciliations(self.services)
        return tick(self.services)
