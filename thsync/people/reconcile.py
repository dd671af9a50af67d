"""Full reconciliation of one tenant: the HR source is the truth, webhooks are only hints.

One run lists everyone in the tenant's source (EH: 100 a page) and every TH user (25 a page),
then judges each person with the tenant's rules under the `reconciliation` event, with their
manager taken from the same list (no call per person). TH gets only what differs: one write per real
difference. The result is a drift report, stored with the run; a dry run only reports.

Both budgets are the shared limiter's, so a reconciliation and the webhook workers together
stay inside EH's and TH's limits. A reconciliation waits its turn for a slot (it is not on
anybody's request path), and after a TH 429 it waits out the portal's pause and goes on.
"""

import logging
from contextlib import ExitStack
from datetime import datetime
from zoneinfo import ZoneInfo

from thsync.core.calls import CallLog
from thsync.core.errors import AlreadyReconciling, RateLimited, SyncError, UnknownTenant
from thsync.core.ratelimit import Limiter
from thsync.people import safeguards
from thsync.people.modes import mode_of
from thsync.people.timing import describe, keep_schedule, plan_timing
from thsync.rules.engine import decide_events
from thsync.tribal_habits.user import diff_user, normalise_user

log = logging.getLogger(__name__)

EVENT = "reconciliation"
PATIENCE = 180.0  # longest wait for a budget slot (a TH portal pause is 60 s)
LISTS = (
    "created",
    "updated",
    "deactivated",
    "skipped",
    "unknown",
    "conflicts",
    "held",
    "scheduled",
    "recovered",
    "failed",
)


class Run:
    """What one reconciliation knows: the tenant, both listings, and the report so far."""

    def __init__(self, services, tenant, ruleset, dry_run: bool):
        self.services, self.tenant, self.ruleset = services, tenant, ruleset
        self.options = dict(ruleset.options)
        self.dry_run = dry_run
        self.now = datetime.fromtimestamp(services.clock.now(), ZoneInfo(tenant.time_zone))
        self.report = {name: [] for name in LISTS}
        self.report.update(dry_run=dry_run, unchanged=0)
        self.writes = []  # (kind, item, current TH user or None)

    def load(self, source, employees: list, users: list) -> None:
        store = self.services.store
        self.source = source
        self.people = [(record, source.identify(record)) for record in employees]
        self.by_id = {person.id: record for record, person in self.people}
        self.users = {safeguards.key(u.get("user_name")): u for u in users}
        self.by_email = safeguards.index_by_email(users)
        self.snapshots = store.people.by_employee(self.tenant.id)
        self.busy = store.history.pending_employees(self.tenant.id)
        self.last_jobs = store.history.last_by_employee(self.tenant.id)
        pending = store.schedule.find(self.tenant.id)
        self.scheduled = {(a["employee_id"], a["action"]) for a in pending}
        self.known = known_keys([person for _, person in self.people], self.snapshots)


def known_keys(people, snapshots) -> set:
    """Every user_name a source's person could have in TH, whatever the tenant's user_name_from."""
    keys = {safeguards.key(value) for person in people for value in person.keys}
    keys.update(safeguards.key(s["user_name"]) for s in snapshots.values() if s["user_name"])
    return keys


def reconcile(services, tenant_id: str, *, dry_run: bool = False, trigger: str = "cli") -> dict:
    """Run one reconciliation; returns {id, summary, report}. Also stored with the run. One
    run per tenant at a time, across processes: AlreadyReconciling while another is going."""
    tenant, ruleset = services.registry.get(tenant_id)
    if tenant is None:
        raise UnknownTenant(f"unknown tenant {tenant_id} (or its file does not load)")
    with services.store.reconciliations.exclusive(tenant_id) as ours:
        if not ours:
            raise AlreadyReconciling(busy_message(services, tenant))
        return run_reconciliation(services, tenant, ruleset, dry_run, trigger)


def busy_message(services, tenant) -> str:
    running = services.store.reconciliations.running(tenant.id)
    which = f" (#{running['id']}, trigger {running['trigger']})" if running else ""
    return f"a reconciliation of {tenant.id} is already running{which}: try again later"


def run_reconciliation(services, tenant, ruleset, dry_run: bool, trigger: str) -> dict:
    store, tenant_id = services.store, tenant.id
    mode = mode_of(services, tenant)
    dry_run = dry_run or mode == "paused"  # a paused tenant gets a report, never a write
    rec_id = store.reconciliations.start(tenant_id, dry_run=dry_run, trigger=trigger)
    run, calls = Run(services, tenant, ruleset, dry_run), CallLog(services.clock)
    run.report["mode"] = mode
    try:
        with ExitStack() as stack:
            source, th = open_clients(services, tenant, calls, stack)
            list_everything(run, source, th)
            judge_everyone(run, source)
            guard_deactivations(run)
            if dry_run:
                for kind, item, _ in run.writes:
                    _record_write(run, kind, item, None)  # what would be written
            else:
                carry_out(run, th)
    except Exception as exc:
        run.report["calls"] = count_calls(calls.calls)
        summary = summarise(run.report)
        store.reconciliations.finish(
            rec_id, status="failed", summary=summary, report=run.report, error=str(exc)
        )
        raise
    run.report["calls"] = count_calls(calls.calls)
    summary = summarise(run.report)
    store.reconciliations.finish(rec_id, status="done", summary=summary, report=run.report)
    log.info("reconciliation %s of %s: %s", rec_id, tenant_id, summary)
    return {"id": rec_id, "summary": summary, "report": run.report}


def open_clients(services, tenant, calls, stack: ExitStack):
    patient = Limiter(services.store.budgets, services.clock, max_wait=PATIENCE)
    source = stack.enter_context(services.source_for(tenant, calls, limiter=patient))
    th = stack.enter_context(services.th_client(tenant, calls))
    th.limiter = patient  # same budgets as the workers', but this run waits for its slots
    return source, th


def patiently(services, call, *args):
    """Call, and after a 429 wait out the pause and try again (twice at most)."""
    for attempt in range(3):
        try:
            return call(*args)
        except RateLimited as exc:
            if attempt == 2:
                raise
            services.clock.sleep(exc.retry_after)


def list_everything(run: Run, source, th) -> None:
    employees = patiently(run.services, lambda: list(source.iter_people()))
    users = patiently(run.services, lambda: list(th.iter_users()))
    run.load(source, employees, users)


def count_calls(calls: list) -> dict:
    counts = {"eh": 0, "th": 0, "th_writes": 0}
    for call in calls:
        counts[call["service"]] = counts.get(call["service"], 0) + 1
        if call["service"] == "th" and call["method"] in ("POST", "PUT"):
            counts["th_writes"] += 1
    return counts


def summarise(report: dict) -> dict:
    summary = {name: len(report.get(name) or []) for name in LISTS}
    summary["unchanged"] = report.get("unchanged", 0)
    return summary


# -- judging each person -----------------------------------------------------------------------


def judge_everyone(run: Run, source) -> None:
    wants_custom = run.ruleset.fetch_for(EVENT).get("custom_fields")
    for employee, person in run.people:
        custom = None
        if wants_custom:
            custom = patiently(run.services, source.custom_fields, person.id)
        judge(run, employee, person, custom)
    report_unknown_users(run)


def judge(run: Run, employee: dict, person, custom) -> None:
    employee_id = person.id
    manager = run.by_id.get(person.manager_id)
    decision = decide_events(
        run.ruleset, run.tenant, {}, [EVENT], employee, manager, custom, run.now
    )
    who = {"employee_id": employee_id, "name": person.name}
    if decision.problems:
        return _skip(run, who, "; ".join(decision.problems))
    if employee_id in run.busy:
        return _skip(run, who, "a webhook job for this person is waiting or running")
    timing = plan_timing(decision, run.options, run.now.date(), run.tenant.time_zone)
    _keep_timing(run, employee_id, timing)
    decision = timing.decision
    if decision.action == "skip":
        return _skip(run, who, decision.reason)
    payload = normalise_user(decision.payload)
    who["user_name"] = payload["user_name"]
    if _identity_held(run, employee_id, who, payload):
        return None
    current = run.users.get(safeguards.key(payload["user_name"]))
    if current is None and timing.create_at and not timing.create_move_only:
        return _skip(run, who, decision.reason)  # created on the start date, not now
    if decision.action == "deactivate":
        return _judge_leaver(run, who, current, decision.reason)
    return _judge_active(run, who, current, decision, payload)


def _skip(run: Run, who: dict, reason: str) -> None:
    run.report["skipped"].append({**who, "reason": reason})


def _keep_timing(run: Run, employee_id, timing) -> None:
    for kind, at in (("create", timing.create_at), ("deactivate", timing.deactivate_at)):
        if at is not None and not (kind == "create" and timing.create_move_only):
            due = describe(at, run.tenant.time_zone)
            run.report["scheduled"].append({"employee_id": employee_id, "action": kind, "due": due})
    touches = {(employee_id, kind) for kind in timing.cancel} & run.scheduled
    if run.dry_run or not (touches or timing.create_at or timing.deactivate_at):
        return
    keep_schedule(run.services.store, run.tenant.id, employee_id, timing)


def _identity_held(run: Run, employee_id, who: dict, payload: dict) -> bool:
    snapshot = run.snapshots.get(employee_id)
    problem = safeguards.identity_change(snapshot, payload["user_name"])
    if problem is None or safeguards.key(snapshot["user_name"]) not in run.users:
        return False
    run.report["held"].append({**who, "kind": "identity", "reason": problem})
    if not run.dry_run:
        safeguards.hold_identity(run.services, run.tenant, employee_id, problem, who)
    return True


def _judge_leaver(run: Run, who: dict, current, reason: str) -> None:
    if current is None or current.get("active") is False:
        run.report["unchanged"] += 1
        return
    off = safeguards.switched_off("deactivate", run.options)
    if off:
        return _skip(run, who, off)
    _plan_write(run, "deactivate", {**who, "reason": reason}, current)


def _judge_active(run: Run, who: dict, current, decision, payload: dict) -> None:
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
    _plan_write(run, "update", {**who, "changes": changes}, current)


def _judge_missing(run: Run, who: dict, decision, payload: dict) -> None:
    if decision.action != "upsert":
        return _skip(run, who, "not in Tribal Habits yet, and the rules only update people there")
    off = safeguards.switched_off("create", run.options)
    if off:
        return _skip(run, who, off)
    if _email_conflict(run, who, payload):
        return
    fields = {k: v for k, v in payload.items() if v not in ("", None)}
    _plan_write(run, "create", {**who, "fields": fields}, None)


def _email_conflict(run: Run, who: dict, payload: dict) -> bool:
    holder = safeguards.email_holder(run.by_email, payload.get("email"), payload["user_name"])
    if holder is None:
        return False
    run.report["conflicts"].append(
        {**who, "email": payload.get("email"), "held_by": holder.get("user_name")}
    )
    return True


def _plan_write(run: Run, kind: str, item: dict, current) -> None:
    run.writes.append((kind, item, current))


def report_unknown_users(run: Run) -> None:
    deactivate = run.options.get("unknown_users") == "deactivate"
    for name, user in run.users.items():
        if name in run.known:
            continue
        entry = {"user_name": user.get("user_name"), "email": user.get("email")}
        entry["active"] = user.get("active") is not False
        entry["action"] = "reported"
        allowed = not safeguards.switched_off("deactivate", run.options)
        if deactivate and entry["active"] and allowed:
            entry["action"] = "deactivate"
            item = {"employee_id": None, "user_name": user.get("user_name"), "name": ""}
            _plan_write(run, "deactivate", {**item, "reason": f"not in {run.source.label}"}, user)
        run.report["unknown"].append(entry)


# -- safeguards and writes ---------------------------------------------------------------------


def guard_deactivations(run: Run) -> None:
    """Over the tenant's limit, every deactivation of this run is held for support."""
    leaving = [item for kind, item, _ in run.writes if kind == "deactivate"]
    active = sum(1 for u in run.users.values() if u.get("active") is not False)
    if len(leaving) <= safeguards.mass_limit(active, run.options):
        return
    run.writes = [w for w in run.writes if w[0] != "deactivate"]
    for item in leaving:
        run.report["held"].append({**item, "kind": "mass_deactivation"})
    if not run.dry_run:
        safeguards.hold_mass_deactivation(
            run.services, run.tenant, leaving, active, "a reconciliation"
        )


def carry_out(run: Run, th) -> None:
    if run.report["conflicts"]:
        alert_conflicts(run)
    for kind, item, current in run.writes:
        try:
            user = patiently(run.services, _write, th, kind, item, current)
        except SyncError as exc:  # one refusal must not stop the run; it is reported
            run.report["failed"].append({**item, "action": kind, "error": str(exc)})
            continue
        _record_write(run, kind, item, user)


def _write(th, kind: str, item: dict, current):
    if kind == "create":
        return th.create_user(item["fields"])
    if kind == "update":
        changes = {key: change["after"] for key, change in item["changes"].items()}
        return th.update_user(item["user_name"], changes, current)
    return th.update_user(item["user_name"], {"active": False}, current)


def _record_write(run: Run, kind: str, item: dict, user) -> None:
    section = {"create": "created", "update": "updated", "deactivate": "deactivated"}[kind]
    run.report[section].append(item)
    employee_id = item.get("employee_id")
    if employee_id is None:
        return
    if user and run.report["mode"] != "shadow":  # shadow writes were not sent: TH lacks them
        run.services.store.people.save(
            run.tenant.id, employee_id, user.get("user_name") or item["user_name"], user, None
        )
    run.report["recovered"].append(
        {
            "employee_id": employee_id,
            "name": item.get("name", ""),
            "user_name": item["user_name"],
            "action": kind,
            "webhook": webhook_story(run.last_jobs.get(employee_id)),
        }
    )


def webhook_story(last_job: dict | None) -> str:
    """What the webhook path did about this person, i.e. why reconciliation had to."""
    if last_job is None:
        return "no webhook was received for this person"
    if last_job["status"] == "failed":
        return f"the webhook's job #{last_job['id']} failed"
    return f"EH changed after job #{last_job['id']} without a webhook"


def alert_conflicts(run: Run) -> None:
    lines = [
        f"{c['name'] or c['employee_id']}: {c['email']} already belongs to TH user {c['held_by']}"
        for c in run.report["conflicts"]
    ]
    safeguards.alert(
        run.services,
        run.tenant,
        f"[{run.tenant.name}] {len(lines)} e-mail conflict(s) found by reconciliation",
        "These people were not created or updated, because Tribal Habits already has another "
        "user with their e-mail. Fix the e-mail in EH or in TH:",
        lines,
    )
