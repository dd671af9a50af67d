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
from typing import Any
from zoneinfo import ZoneInfo

from thsync.core.clock import Clock
from thsync.rules.engine import Decision
from thsync.store.repositories import Store

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


@dataclass
class Timing:
    """What to do now (decision) and which future actions to plan, move or cancel."""

    decision: Decision
    create_at: float | None = None  # plan (or move) the creation to this time
    create_move_only: bool = False  # only move a creation already planned
    deactivate_at: float | None = None
    cancel: list[str] = field(default_factory=list)  # kinds of pending action to cancel
    note: str = ""  # said in the job's reason when the decision itself does not say it


def parse_day(value: object) -> date | None:
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


def plan_timing(decision: Decision, options: dict[str, Any], today: date, zone: str) -> Timing:
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


def _plan_deactivation(
    timing: Timing, fields: dict[str, Any], options: dict[str, Any], today: date, zone: str
) -> None:
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


def _plan_creation(
    timing: Timing, fields: dict[str, Any], options: dict[str, Any], today: date, zone: str
) -> None:
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


def keep_schedule(store: Store, tenant_id: str, employee_id: str, timing: Timing) -> list[str]:
    """Write the timing's plan to the store; returns what changed, for the job's reason."""
    done: list[str] = []
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


def today_in(clock: Clock, zone: str) -> date:
    return datetime.fromtimestamp(clock.now(), ZoneInfo(zone)).date()
