"""The people lifecycle inside one webhook job: timing, switches, identity, mass deactivation
before the write; schedules and managers' reports after it. pipeline.job calls `before_apply`
and `after_apply`; reconciliation uses the same pieces for a whole tenant.

The engine's Decision goes in and a Decision comes out (a new one, never patched), with a Stop
when a safeguard holds the write or a switch turns it off."""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from thsync.config.tenants import Tenant
from thsync.people import safeguards
from thsync.people.timing import Timing, keep_schedule, plan_timing
from thsync.rules.engine import Decision
from thsync.rules.ruleset import RuleSet
from thsync.store.jobs import Job
from thsync.store.states import Outcome
from thsync.tribal_habits.client import THClient, UpsertResult

if TYPE_CHECKING:
    from thsync.services import Services

BURST_SECONDS = 3600.0  # deactivations within this window count as one burst of events


class StopKind(StrEnum):
    HELD = "held"  # a safeguard holds the write for support
    SWITCHED_OFF = "switched_off"  # the tenant switched this kind of write off


OUTCOMES = {StopKind.HELD: Outcome.HELD, StopKind.SWITCHED_OFF: Outcome.SWITCHED_OFF}


@dataclass(frozen=True)
class Stop:
    """Why a decision is not carried out."""

    kind: StopKind
    reason: str
    hold_id: int | None = None

    @property
    def outcome(self) -> Outcome:
        return OUTCOMES[self.kind]

    @property
    def message(self) -> str:
        """The job's reason; a hold names its number, so support can release or discard it."""
        if self.kind is StopKind.HELD:
            return f"held (#{self.hold_id}): {self.reason}"
        return self.reason


def before_apply(
    deps: "Services",
    tenant: Tenant,
    ruleset: RuleSet,
    job: Job,
    decision: Decision,
    now: datetime,
    th: THClient,
) -> tuple[Decision, Stop | None, Timing]:
    """(decision to carry out, why it must not be carried out or None, timing)."""
    options = dict(ruleset.options)
    timing = plan_timing(decision, options, now.date(), tenant.time_zone)
    decision = timing.decision
    if decision.action == "skip":
        return decision, None, timing
    stop = _switched_off(decision, options, th)
    if stop is None:
        decision, stop = _check_identity(deps, tenant, job, decision)
    if stop is None and decision.action == "deactivate":
        stop = _check_burst(deps, tenant, job, decision, options)
    return decision, stop, timing


def _switched_off(decision: Decision, options: dict[str, Any], th: THClient) -> Stop | None:
    reason = _switch_reason(decision, options, th)
    return Stop(StopKind.SWITCHED_OFF, reason) if reason else None


def _switch_reason(decision: Decision, options: dict[str, Any], th: THClient) -> str | None:
    if decision.action == "deactivate":
        return safeguards.switched_off("deactivate", options)
    if decision.action == "update":
        return safeguards.switched_off("update", options)
    create_off = safeguards.switched_off("create", options)
    update_off = safeguards.switched_off("update", options)
    if create_off and update_off:
        return f"{create_off}; {update_off}"
    if update_off and th.get_user(payload_of(decision)["user_name"]) is not None:
        return update_off
    if create_off and th.get_user(payload_of(decision)["user_name"]) is None:
        return create_off
    return None


def _check_identity(
    deps: "Services", tenant: Tenant, job: Job, decision: Decision
) -> tuple[Decision, Stop | None]:
    """A deactivation goes to the user TH really has; a create under a new user_name is held."""
    snapshot = deps.store.people.get(tenant.id, job.employee_id)
    user_name = payload_of(decision).get("user_name")
    problem = safeguards.identity_change(snapshot, user_name)
    if problem is None or snapshot is None:  # no snapshot, no change of identity
        return decision, None
    if decision.action == "deactivate":
        payload = {**payload_of(decision), "user_name": snapshot["user_name"]}
        return replace(decision, payload=payload), None
    item = {"employee_id": job.employee_id, **_who(payload_of(decision))}
    hold_id = safeguards.hold_identity(deps, tenant, job.employee_id, problem, item)
    return decision, Stop(StopKind.HELD, problem, hold_id)


def _check_burst(
    deps: "Services", tenant: Tenant, job: Job, decision: Decision, options: dict[str, Any]
) -> Stop | None:
    """One burst of leavers larger than the tenant's limit is held, not carried out."""
    store = deps.store
    item = {"employee_id": job.employee_id, **_who(payload_of(decision))}
    held = store.holds.open(tenant.id, "mass_deactivation")
    if held is not None:
        store.holds.add(held["id"], item)
        reason = "a mass deactivation of this tenant awaits support"
        return Stop(StopKind.HELD, reason, held["id"])
    since = deps.clock.now() - BURST_SECONDS
    recent = store.history.recent_deactivations(tenant.id, since) + 1
    # Active before the burst: those known active now, plus the burst's earlier leavers.
    active = store.people.active_count(tenant.id) + recent - 1
    if recent <= safeguards.mass_limit(active, options):
        return None
    hold_id = safeguards.hold_mass_deactivation(
        deps, tenant, [item], active, "a burst of events", count=recent
    )
    reason = f"{recent} deactivations within an hour is over the tenant's limit"
    return Stop(StopKind.HELD, reason, hold_id)


def payload_of(decision: Decision) -> dict[str, Any]:
    """What a write carries: the engine renders a payload for every action but a skip."""
    if decision.payload is None:
        raise ValueError(f"a decision to {decision.action} without a payload")
    return decision.payload


def _who(payload: dict[str, Any]) -> dict[str, Any]:
    keys = ("user_name", "first_name", "last_name", "email")
    return {k: payload.get(k) for k in keys if payload.get(k)}


def after_apply(
    deps: "Services", tenant: Tenant, job: Job, result: object, timing: Timing
) -> list[str]:
    """Plan, move or cancel the person's future actions; pass a new e-mail to their reports.
    `result` is the write's UpsertResult, or None when nothing was written."""
    notes = keep_schedule(deps.store, tenant.id, job.employee_id, timing)
    if timing.note:
        notes.append(timing.note)
    changes = result.changes if isinstance(result, UpsertResult) else None
    email = (changes or {}).get("email")
    if email and email.get("before"):
        queued = propagate_manager_email(deps, tenant.id, job.employee_id, email["before"])
        if queued:
            notes.append(f"manager e-mail changed: {len(queued)} report(s) queued")
    return notes


def propagate_manager_email(
    deps: "Services", tenant_id: str, manager_id: str, old_email: str
) -> list[int]:
    """Queue a sync of everyone whose TH manager_email is the manager's old address (their
    rules then read the manager's new one from EH)."""
    old = safeguards.key(old_email)
    jobs: list[int] = []
    for employee_id, snap in deps.store.people.by_employee(tenant_id).items():
        if employee_id != manager_id and safeguards.key(snap["user"].get("manager_email")) == old:
            jobs.append(deps.store.jobs.queue_sync(tenant_id, employee_id, "employee_updated"))
    return jobs
