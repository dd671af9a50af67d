"""One job, start to finish: read the HR source, decide with the rules, bring TH in line.

Webhooks are hints. The person (and their manager) are fetched fresh from the tenant's source,
so a burst of events coalesced into one job syncs the latest state once, and a late or duplicate
delivery can never write stale data.
"""

import json
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from thsync.core.errors import PermanentError, SyncError
from thsync.people.lifecycle import after_apply, before_apply
from thsync.rules.engine import decide_events


@dataclass
class Result:
    status: str  # succeeded | skipped
    outcome: str  # created | updated | unchanged | deactivated | already_inactive | skipped | …
    reason: str
    decision: dict


def decision_dict(decision) -> dict:
    return {
        "action": decision.action,
        "rule": decision.rule,
        "reason": decision.reason,
        "extracted": decision.extracted,
        "payload": decision.payload,
        "create_only": sorted(decision.create_only),
        "problems": list(getattr(decision, "problems", []) or []),
        "trace": decision.trace,
    }


def latest_event(store, job) -> dict:
    for delivery_id in reversed(job.delivery_ids):
        delivery = store.deliveries.get(delivery_id)
        if delivery and delivery.get("body"):
            return json.loads(delivery["body"])
    return {}


def unique(items) -> list:
    return list(dict.fromkeys(item for item in items if item))


def fetch_plan(ruleset, event_types) -> dict:
    plan = {"employee": False, "manager": False, "custom_fields": False}
    for event_type in event_types:
        for key, wanted in ruleset.fetch_for(event_type).items():
            plan[key] = plan.get(key, False) or wanted
    return plan


def fetch_people(source, person_id, event, plan) -> tuple:
    """(employee, manager, custom_fields) as the rules asked for them."""
    if not plan["employee"]:
        return source.event_person(event), None, None
    employee = source.get_person(person_id)
    if employee is None:
        return None, None, None
    manager = source.get_manager(employee) if plan["manager"] else None
    custom = source.custom_fields(person_id) if plan["custom_fields"] else None
    return employee, manager, custom


def apply(th, decision) -> tuple[str, str, object]:
    """Carry the decision out in TH: (status, outcome, upsert result or None)."""
    payload = decision.payload or {}
    if decision.action == "skip":
        return "skipped", "skipped", None
    if decision.action == "deactivate":
        result = th.deactivate(payload["user_name"])
    else:
        allow_create = decision.action == "upsert"
        result = th.upsert(payload, decision.create_only, allow_create=allow_create)
    if result.action == "absent":
        return "skipped", "absent", result
    return "succeeded", result.action, result


def explain(decision, outcome, result) -> str:
    if outcome == "absent" and decision.action == "update":
        return "not in Tribal Habits yet, and this rule only updates existing people"
    if outcome == "absent":
        return "not in Tribal Habits, so there is nobody to deactivate"
    if result is not None and result.changes:
        return f"{decision.reason}; changed: " + ", ".join(sorted(result.changes))
    return decision.reason


def run_job(job, deps, recorder) -> Result:
    """Raises the errors of thsync.errors; the worker maps them onto the job state machine."""
    with ExitStack() as clients:
        return sync_person(job, deps, recorder, clients)


def sync_person(job, deps, recorder, clients: ExitStack) -> Result:
    tenant, ruleset = deps.registry.get(job.tenant_id)
    if tenant is None:
        raise PermanentError(f"tenant {job.tenant_id} is not configured (or its file is broken)")
    event = latest_event(deps.store, job)
    event_types = unique(job.event_types)
    plan = fetch_plan(ruleset, event_types)
    source = clients.enter_context(deps.source_for(tenant, recorder))
    employee, manager, custom = fetch_people(source, job.employee_id, event, plan)
    if employee is None:
        return Result("skipped", "not_in_eh", source.why_absent(job.employee_id), {})
    now = datetime.fromtimestamp(deps.clock.now(), ZoneInfo(tenant.time_zone))
    decision = decide_events(ruleset, tenant, event, event_types, employee, manager, custom, now)
    summary = decision_dict(decision)
    if summary["problems"]:
        error = PermanentError("; ".join(summary["problems"]))
        error.decision = summary  # kept on the failed job, so support sees what was rendered
        raise error
    th = clients.enter_context(deps.th_client(tenant, recorder))
    # Effective dates, switches, identity and mass-deactivation safeguards (thsync.lifecycle).
    decision, stopped, timing = before_apply(deps, tenant, ruleset, job, decision, now, th)
    summary.update(action=decision.action, reason=decision.reason, payload=decision.payload)
    if stopped:
        outcome = "held" if stopped.startswith("held") else "switched_off"
        return Result("skipped", outcome, stopped, summary)
    try:
        status, outcome, result = apply(th, decision)
    except SyncError as exc:
        exc.decision = summary  # the failed job keeps who it was for and what was rendered
        raise
    if result is not None and result.user:
        deps.store.people.save(
            tenant.id, job.employee_id, result.user.get("user_name"), result.user, job.id
        )
    if result is not None:
        summary["changes"] = result.changes
    notes = after_apply(deps, tenant, job, result, timing)
    reason = "; ".join([explain(decision, outcome, result), *notes])
    if outcome == "absent" and timing.create_at:
        outcome, reason = "scheduled", decision.reason  # not in TH until the start date
    return Result(status, outcome, reason, summary)
