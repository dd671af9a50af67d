"""The judging of one person in a reconciliation: their decision under the `reconciliation`
event, its timing, the identity and e-mail safeguards, and the write it plans (only what differs
from the TH user). thsync.people.reconcile runs it for everyone in the tenant's source."""

from typing import TYPE_CHECKING, Any

from thsync.people import safeguards
from thsync.people.lifecycle import payload_of
from thsync.people.timing import Timing, describe, keep_schedule, plan_timing
from thsync.rules.engine import Decision, decide_events
from thsync.sources.base import SourcePerson
from thsync.tribal_habits.user import diff_user, normalise_user

if TYPE_CHECKING:
    from thsync.people.reconcile import Run

EVENT = "reconciliation"


def judge(
    run: "Run", employee: dict[str, Any], person: SourcePerson, custom: dict[str, Any] | None
) -> None:
    """Report the person as skipped, unchanged or held, or plan the one write they need."""
    employee_id = person.id
    who = {"employee_id": employee_id, "name": person.name}
    if employee_id is None:  # nothing to schedule, hold or remember them by
        return _skip(run, who, f"the {run.source.label} record has no id")
    manager = run.by_id.get(person.manager_id) if person.manager_id is not None else None
    decision = decide_events(
        run.ruleset, run.tenant, {}, [EVENT], employee, manager, custom, run.now
    )
    if decision.problems:
        return _skip(run, who, "; ".join(decision.problems))
    if employee_id in run.busy:
        return _skip(run, who, "a webhook job for this person is waiting or running")
    timing = plan_timing(decision, run.options, run.now.date(), run.tenant.time_zone)
    _keep_timing(run, employee_id, timing)
    decision = timing.decision
    if decision.action == "skip":
        return _skip(run, who, decision.reason)
    payload = normalise_user(payload_of(decision))
    who["user_name"] = payload["user_name"]
    if _identity_held(run, employee_id, who, payload):
        return None
    current = run.users.get(safeguards.key(payload["user_name"]))
    if current is None and timing.create_at and not timing.create_move_only:
        return _skip(run, who, decision.reason)  # created on the start date, not now
    if decision.action == "deactivate":
        return _judge_leaver(run, who, current, decision.reason)
    return _judge_active(run, who, current, decision, payload)


def _skip(run: "Run", who: dict[str, Any], reason: str) -> None:
    run.report["skipped"].append({**who, "reason": reason})


def _keep_timing(run: "Run", employee_id: str, timing: Timing) -> None:
    for kind, at in (("create", timing.create_at), ("deactivate", timing.deactivate_at)):
        if at is not None and not (kind == "create" and timing.create_move_only):
            due = describe(at, run.tenant.time_zone)
            run.report["scheduled"].append({"employee_id": employee_id, "action": kind, "due": due})
    touches = {(employee_id, kind) for kind in timing.cancel} & run.scheduled
    if run.dry_run or not (touches or timing.create_at or timing.deactivate_at):
        return
    keep_schedule(run.services.store, run.tenant.id, employee_id, timing)


def _identity_held(
    run: "Run", employee_id: str, who: dict[str, Any], payload: dict[str, Any]
) -> bool:
    snapshot = run.snapshots.get(employee_id)
    problem = safeguards.identity_change(snapshot, payload["user_name"])
    if (
        problem is None
        or snapshot is None
        or safeguards.key(snapshot["user_name"]) not in run.users
    ):
        return False
    run.report["held"].append({**who, "kind": "identity", "reason": problem})
    if not run.dry_run:
        safeguards.hold_identity(run.services, run.tenant, employee_id, problem, who)
    return True


def _judge_leaver(
    run: "Run", who: dict[str, Any], current: dict[str, Any] | None, reason: str
) -> None:
    if current is None or current.get("active") is False:
        run.report["unchanged"] += 1
        return
    off = safeguards.switched_off("deactivate", run.options)
    if off:
        return _skip(run, who, off)
    plan_write(run, "deactivate", {**who, "reason": reason}, current)


def _judge_active(
    run: "Run",
    who: dict[str, Any],
    current: dict[str, Any] | None,
    decision: Decision,
    payload: dict[str, Any],
) -> None:
    if current is None:
        return _judge_missing(run, who, decision, payload)
    wanted = {k: v for k, v in payload.items() if k not in decision.create_only | {"user_name"}}
    changes = diff_user(current, wanted)
    if not changes:
        run.report["unchanged"] += 1
        return
    off = safeguards.switched_off("update", run.options)
    if off:
        return _skip(run, who, off)
    if "email" in changes and _email_conflict(run, who, payload):
        return
    plan_write(run, "update", {**who, "changes": changes}, current)


def _judge_missing(
    run: "Run", who: dict[str, Any], decision: Decision, payload: dict[str, Any]
) -> None:
    if decision.action != "upsert":
        return _skip(run, who, "not in Tribal Habits yet, and the rules only update people there")
    off = safeguards.switched_off("create", run.options)
    if off:
        return _skip(run, who, off)
    if _email_conflict(run, who, payload):
        return
    fields = {k: v for k, v in payload.items() if v not in ("", None)}
    plan_write(run, "create", {**who, "fields": fields}, None)


def _email_conflict(run: "Run", who: dict[str, Any], payload: dict[str, Any]) -> bool:
    holder = safeguards.email_holder(run.by_email, payload.get("email"), payload["user_name"])
    if holder is None:
        return False
    run.report["conflicts"].append(
        {**who, "email": payload.get("email"), "held_by": holder.get("user_name")}
    )
    return True


def plan_write(run: "Run", kind: str, item: dict[str, Any], current: dict[str, Any] | None) -> None:
    run.writes.append((kind, item, current))
