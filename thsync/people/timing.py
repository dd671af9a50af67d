"""Effective dates: create on the start date, deactivate at the end of the last day, in the
tenant's time zone, through durable scheduled actions (thsync.store_lifecycle).

The rules still decide *what* to do; this module decides *when*, from the tenant's options and
the dates the rules extracted. It is pure (plan_timing) plus the two places that touch the
store: keep_schedule (after each sync) and tick (the worker firing what is due).

Every sync of a person re-plans their actions, so a change in EH moves or cancels them: a moved
start date moves the creation, a rescinded termination cancels the deactivation.
"""

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from thsync.people.modes import paused_tenants

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


@dataclass
class Timing:
    """What to do now (decision) and which future actions to plan, move or cancel."""

    decision: object
    create_at: float | None = None  # plan (or move) the creation to this time
    create_move_only: bool = False  # only move a creation already planned
    deactivate_at: float | None = None
    cancel: list = field(default_factory=list)  # kinds of pending action to cancel
    note: str = ""  # said in the job's reason when the decision itself does not say it


def parse_day(value) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def local_midnight(day: date, zone: str) -> float:
    """The epoch time at which `day` begins in the tenant's time zone."""
    return datetime.combine(day, time(0), ZoneInfo(zone)).timestamp()


def describe(at: float, zone: str) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(zone)).strftime(f"%Y-%m-%d %H:%M {zone}")


def plan_timing(decision, options: dict, today: date, zone: str) -> Timing:
    """Defer the decision when the tenant's options say the moment has not come yet."""
    timing = Timing(decision)
    if decision.action == "skip" and decision.rule is not None:
        timing.cancel = ["create", "deactivate"]  # the rules now leave this person alone
        return timing
    if decision.action == "skip":
        return timing  # no rule matched this event: it says nothing about dates
    fields = decision.extracted or {}
    _plan_deactivation(timing, fields, options, today, zone)
    _plan_creation(timing, fields, options, today, zone)
    return timing


def _plan_deactivation(timing: Timing, fields, options, today, zone) -> None:
    last_day = parse_day(fields.get("termination_date"))
    if not options.get("deactivate_at_end_of_last_day") or not last_day or last_day < today:
        timing.cancel.append("deactivate")  # rescinded, passed, or not deferred at all
        return
    timing.deactivate_at = local_midnight(last_day + DAY, zone)
    when = describe(timing.deactivate_at, zone)
    if timing.decision.action != "deactivate":
        timing.note = f"deactivation scheduled for {when}"  # the person stays in step meanwhile
        return
    timing.decision = replace(
        timing.decision,
        action="skip",
        reason=f"last day {last_day.isoformat()}: deactivation scheduled for {when}",
    )


def _plan_creation(timing: Timing, fields, options, today, zone) -> None:
    decision = timing.decision
    start = parse_day(fields.get("start_date"))
    if decision.action == "deactivate" or (timing.deactivate_at and decision.action == "skip"):
        timing.cancel.append("create")
        return
    if not options.get("create_on_start_date") or start is None:
        if decision.action == "upsert":
            timing.cancel.append("create")
        return
    create_day = start - timedelta(days=int(options.get("create_days_before_start") or 0))
    at = local_midnight(create_day, zone)
    if decision.action == "update":
        timing.create_at, timing.create_move_only = at, True  # follow a moved start date
        return
    if create_day <= today:
        timing.cancel.append("create")  # the day has come: the upsert creates now
        return
    timing.create_at = at
    timing.decision = replace(
        decision,
        action="update",
        reason=f"starts {start.isoformat()}: creation scheduled for {describe(at, zone)}",
    )


def keep_schedule(store, tenant_id: str, employee_id: str, timing: Timing) -> list[str]:
    """Write the timing's plan to the store; returns what changed, for the job's reason."""
    done = []
    for kind in timing.cancel:
        if store.schedule.cancel(
            tenant_id=tenant_id, employee_id=employee_id, action=kind, reason="EH changed"
        ):
            done.append(f"cancelled the scheduled {kind}")
    if timing.deactivate_at is not None:
        store.schedule.plan(
            tenant_id, employee_id, "deactivate", timing.deactivate_at, "end of last day"
        )
    if timing.create_at is not None:
        pending = store.schedule.pending(tenant_id, employee_id, "create")
        if pending or not timing.create_move_only:
            store.schedule.plan(tenant_id, employee_id, "create", timing.create_at, "start date")
    return done


def today_in(clock, zone: str) -> date:
    return datetime.fromtimestamp(clock.now(), ZoneInfo(zone)).date()


# -- the worker's tick -----------------------------------------------------------------------


def next_reconcile_at(now: float, options: dict, zone: str, after_run: bool) -> float | None:
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


def plan_reconciliations(services) -> None:
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


def tick(services) -> list[dict]:
    """Fire what is due (each action once across processes) and run due reconciliations."""
    from thsync.people.reconcile import reconcile  # reconcile imports this module

    fired = services.store.schedule.fire_due()
    for action in fired:
        if action["action"] != "reconcile":
            log.info("scheduled %s of %s fired as job %s", *_what(action))
            continue
        try:
            reconcile(services, action["tenant_id"], trigger="schedule")
        except Exception:  # a failed reconciliation is recorded; the next one is planned
            log.exception("periodic reconciliation of %s failed", action["tenant_id"])
        _plan_next(services, action["tenant_id"])
    return fired


def _what(action) -> tuple:
    return action["action"], action["employee_id"], action["job_id"]


def _plan_next(services, tenant_id: str) -> None:
    tenant, ruleset = services.registry.get(tenant_id)
    if tenant is None:
        return
    now = services.clock.now()
    at = next_reconcile_at(now, ruleset.options, tenant.time_zone, after_run=True)
    if at is not None:
        services.store.schedule.plan(tenant_id, "", "reconcile", at, "periodic reconciliation")


class Ticker:
    """The worker's share of the schedule: fire due actions on every loop; check each
    tenant's reconciliation plan at most once a minute (it reads every tenant's row)."""

    PLAN_EVERY = 60.0

    def __init__(self, services):
        self.services = services
        self.planned_at = float("-inf")

    def tick(self) -> list[dict]:
        now = self.services.clock.now()
        if now - self.planned_at >= self.PLAN_EVERY:
            self.planned_at = now
            plan_reconciliations(self.services)
        return tick(self.services)
