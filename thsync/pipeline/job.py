"""One job, start to finish: read the HR source, decide with the rules, bring TH in line.

Webhooks are hints. The person (and their manager) are fetched fresh from the tenant's source,
so a burst of events coalesced into one job syncs the latest state once, and a late or duplicate
delivery can never write stale data.
"""

import json
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from thsync.config.tenants import Tenant
from thsync.core import http
from thsync.core.errors import PermanentError, SyncError
from thsync.people.lifecycle import after_apply, before_apply
from thsync.people.timing import Timing
from thsync.rules.engine import Decision, decide_events
from thsync.rules.ruleset import RuleSet
from thsync.sources.base import HRSource
from thsync.store.jobs import Job
from thsync.store.repositories import Store
from thsync.store.states import JobStatus, Outcome
from thsync.tribal_habits.client import THClient, UpsertResult

if TYPE_CHECKING:  # handed in by the composition root
    from thsync.services import Services

T = TypeVar("T")


@dataclass
class Result:
    status: JobStatus  # SUCCEEDED | SKIPPED
    outcome: Outcome
    reason: str
    decision: dict[str, Any]  # Decision.as_dict(): what the job and its attempt keep


def latest_event(store: Store, job: Job) -> dict[str, Any]:
    for delivery_id in reversed(job.delivery_ids):
        delivery = store.deliveries.get(delivery_id)
        if delivery and delivery.get("body"):
            return json.loads(delivery["body"])
    return {}


def unique(items: Iterable[T | None]) -> list[T]:
    return list(dict.fromkeys(item for item in items if item))


def fetch_plan(ruleset: RuleSet, event_types: Iterable[str | None]) -> dict[str, bool]:
    plan = {"employee": False, "manager": False, "custom_fields": False}
    for event_type in event_types:
        for key, wanted in ruleset.fetch_for(event_type).items():
            plan[key] = plan.get(key, False) or wanted
    return plan


People = tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]


def fetch_people(
    source: HRSource, person_id: str, event: dict[str, Any], plan: dict[str, bool]
) -> People:
    """(employee, manager, custom_fields) as the rules asked for them."""
    if not plan["employee"]:
        return source.event_person(event), None, None
    employee = source.get_person(person_id)
    if employee is None:
        return None, None, None
    manager = source.get_manager(employee) if plan["manager"] else None
    custom = source.custom_fields(person_id) if plan["custom_fields"] else None
    return employee, manager, custom


def apply(th: THClient, decision: Decision) -> tuple[JobStatus, Outcome, UpsertResult | None]:
    """Carry the decision out in TH: (status, outcome, upsert result or None)."""
    payload = decision.payload or {}
    if decision.action == "skip":
        return JobStatus.SKIPPED, Outcome.SKIPPED, None
    if decision.action == "deactivate":
        result = th.deactivate(payload["user_name"])
    else:
        allow_create = decision.action == "upsert"
        result = th.upsert(payload, decision.create_only, allow_create=allow_create)
    if result.action == Outcome.ABSENT:
        return JobStatus.SKIPPED, Outcome.ABSENT, result
    return JobStatus.SUCCEEDED, Outcome(result.action), result


def explain(decision: Decision, outcome: Outcome, result: UpsertResult | None) -> str:
    if outcome == Outcome.ABSENT and decision.action == "update":
        return "not in Tribal Habits yet, and this rule only updates existing people"
    if outcome == Outcome.ABSENT:
        return "not in Tribal Habits, so there is nobody to deactivate"
    if result is not None and result.changes:
        return f"{decision.reason}; changed: " + ", ".join(sorted(result.changes))
    return decision.reason


def run_job(job: Job, deps: "Services", recorder: http.Recorder | None) -> Result:
    """Raises the errors of thsync.core.errors (a SyncError carrying the job's decision once
    there is one); the worker maps them onto the job state machine."""
    with ExitStack() as clients:
        return sync_person(job, deps, recorder, clients)


def sync_person(
    job: Job, deps: "Services", recorder: http.Recorder | None, clients: ExitStack
) -> Result:
    tenant, ruleset = deps.registry.get(job.tenant_id)
    if tenant is None or ruleset is None:  # both, or neither
        raise PermanentError(f"tenant {job.tenant_id} is not configured (or its file is broken)")
    event = latest_event(deps.store, job)
    event_types = unique(job.event_types)
    plan = fetch_plan(ruleset, event_types)
    source = clients.enter_context(deps.source_for(tenant, recorder))
    employee, manager, custom = fetch_people(source, job.employee_id, event, plan)
    if employee is None:
        reason = source.why_absent(job.employee_id)
        return Result(JobStatus.SKIPPED, Outcome.NOT_IN_SOURCE, reason, {})
    now = datetime.fromtimestamp(deps.clock.now(), ZoneInfo(tenant.time_zone))
    decision = decide_events(ruleset, tenant, event, event_types, employee, manager, custom, now)
    if decision.problems:
        # Kept on the failed job, so support sees what was rendered.
        raise PermanentError("; ".join(decision.problems), decision=decision.as_dict())
    th = clients.enter_context(deps.th_client(tenant, recorder))
    # Effective dates, switches, identity and mass-deactivation safeguards (people.lifecycle).
    decision, stop, timing = before_apply(deps, tenant, ruleset, job, decision, now, th)
    if stop is not None:
        return Result(JobStatus.SKIPPED, stop.outcome, stop.message, decision.as_dict())
    return carry_out(deps, tenant, job, th, decision, timing)


def carry_out(
    deps: "Services", tenant: Tenant, job: Job, th: THClient, decision: Decision, timing: Timing
) -> Result:
    """Write to TH, keep what TH now holds, then plan the person's future actions."""
    try:
        status, outcome, result = apply(th, decision)
    except SyncError as exc:
        exc.with_decision(decision.as_dict())  # the failed job keeps who it was for
        raise
    if result is not None:
        decision = replace(decision, changes=result.changes)
    if result is not None and result.user:
        deps.store.people.save(
            tenant.id, job.employee_id, result.user.get("user_name"), result.user, job.id
        )
    notes = after_apply(deps, tenant, job, result, timing)
    reason = "; ".join([explain(decision, outcome, result), *notes])
    if outcome == Outcome.ABSENT and timing.create_at:
        outcome, reason = Outcome.SCHEDULED, decision.reason  # not in TH until the start date
    return Result(status, outcome, reason, decision.as_dict())
