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
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from thsync.config.tenants import Tenant
from thsync.core.calls import CallLog
from thsync.core.errors import AlreadyReconciling, RateLimited, SyncError, UnknownTenant
from thsync.core.ratelimit import Limiter
from thsync.people import safeguards
from thsync.people.judging import EVENT, judge, plan_write
from thsync.people.modes import mode_of
from thsync.rules.ruleset import RuleSet
from thsync.sources.base import HRSource, SourcePerson
from thsync.tribal_habits.client import THClient

if TYPE_CHECKING:
    from thsync.services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = tuple[str, dict[str, Any], dict[str, Any] | None]  # (kind, item, current TH user)

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

    def __init__(
        self, services: "Services", tenant: Tenant, ruleset: RuleSet, dry_run: bool
    ) -> None:
        self.services, self.tenant, self.ruleset = services, tenant, ruleset
        self.options = dict(ruleset.options)
        self.dry_run = dry_run
        self.now = datetime.fromtimestamp(services.clock.now(), ZoneInfo(tenant.time_zone))
        self.report: dict[str, Any] = {name: [] for name in LISTS}
        self.report.update(dry_run=dry_run, unchanged=0)
        self.writes: list[Write] = []

    def load(
        self, source: HRSource, employees: list[dict[str, Any]], users: list[dict[str, Any]]
    ) -> None:
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


def known_keys(people: Iterable[SourcePerson], snapshots: dict[str, dict[str, Any]]) -> set[str]:
    """Every user_name a source's person could have in TH, whatever the tenant's user_name_from."""
    keys = {safeguards.key(value) for person in people for value in person.keys}
    keys.update(safeguards.key(s["user_name"]) for s in snapshots.values() if s["user_name"])
    return keys


def reconcile(
    services: "Services", tenant_id: str, *, dry_run: bool = False, trigger: str = "cli"
) -> dict[str, Any]:
    """Run one reconciliation; returns {id, summary, report}. Also stored with the run. One
    run per tenant at a time, across processes: AlreadyReconciling while another is going."""
    tenant, ruleset = services.registry.get(tenant_id)
    if tenant is None or ruleset is None:  # the registry gives both or neither
        raise UnknownTenant(f"unknown tenant {tenant_id} (or its file does not load)")
    with services.store.reconciliations.exclusive(tenant_id) as ours:
        if not ours:
            raise AlreadyReconciling(busy_message(services, tenant))
        return run_reconciliation(services, tenant, ruleset, dry_run, trigger)


def busy_message(services: "Services", tenant: Tenant) -> str:
    running = services.store.reconciliations.running(tenant.id)
    which = f" (#{running['id']}, trigger {running['trigger']})" if running else ""
    return f"a reconciliation of {tenant.id} is already running{which}: try again later"


def run_reconciliation(
    services: "Services", tenant: Tenant, ruleset: RuleSet, dry_run: bool, trigger: str
) -> dict[str, Any]:
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


def open_clients(
    services: "Services", tenant: Tenant, calls: CallLog, stack: ExitStack
) -> tuple[HRSource, THClient]:
    patient = Limiter(services.store.budgets, services.clock, max_wait=PATIENCE)
    source = stack.enter_context(services.source_for(tenant, calls, limiter=patient))
    th = stack.enter_context(services.th_client(tenant, calls))
    th.limiter = patient  # same budgets as the workers', but this run waits for its slots
    return source, th


def patiently(services: "Services", call: Callable[..., T], *args: Any) -> T:
    """Call, and after a 429 wait out the pause and try again (twice at most)."""
    for _ in range(2):
        try:
            return call(*args)
        except RateLimited as exc:
            services.clock.sleep(exc.retry_after)
    return call(*args)  # the third 429 is raised


def list_everything(run: Run, source: HRSource, th: THClient) -> None:
    employees = patiently(run.services, lambda: list(source.iter_people()))
    users = patiently(run.services, lambda: list(th.iter_users()))
    run.load(source, employees, users)


def count_calls(calls: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"eh": 0, "th": 0, "th_writes": 0}
    for call in calls:
        counts[call["service"]] = counts.get(call["service"], 0) + 1
        if call["service"] == "th" and call["method"] in ("POST", "PUT"):
            counts["th_writes"] += 1
    return counts


def summarise(report: dict[str, Any]) -> dict[str, int]:
    summary = {name: len(report.get(name) or []) for name in LISTS}
    summary["unchanged"] = report.get("unchanged", 0)
    return summary


# -- judging each person -----------------------------------------------------------------------


def judge_everyone(run: Run, source: HRSource) -> None:
    wants_custom = run.ruleset.fetch_for(EVENT).get("custom_fields")
    for employee, person in run.people:
        custom = None
        if wants_custom:
            custom = patiently(run.services, source.custom_fields, person.id)
        judge(run, employee, person, custom)
    report_unknown_users(run)


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
            plan_write(run, "deactivate", {**item, "reason": f"not in {run.source.label}"}, user)
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


def carry_out(run: Run, th: THClient) -> None:
    if run.report["conflicts"]:
        alert_conflicts(run)
    for kind, item, current in run.writes:
        try:
            user = patiently(run.services, _write, th, kind, item, current)
        except SyncError as exc:  # one refusal must not stop the run; it is reported
            run.report["failed"].append({**item, "action": kind, "error": str(exc)})
            continue
        _record_write(run, kind, item, user)


def _write(
    th: THClient, kind: str, item: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    if kind == "create":
        return th.create_user(item["fields"])
    if current is None:  # planned only for a user TH has
        raise ValueError(f"no Tribal Habits user to {kind} for {item['user_name']}")
    if kind == "update":
        changes = {key: change["after"] for key, change in item["changes"].items()}
        return th.update_user(item["user_name"], changes, current)
    return th.update_user(item["user_name"], {"active": False}, current)


def _record_write(run: Run, kind: str, item: dict[str, Any], user: dict[str, Any] | None) -> None:
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


def webhook_story(last_job: dict[str, Any] | None) -> str:
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
