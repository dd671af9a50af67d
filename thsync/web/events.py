"""One event start to finish, people search and the rule tester. JSON twins end in `.json`.

An "event" here is a job: the deliveries it coalesced, what EH said, the rule that decided and
why (with file:line), the payload, every attempt, the outcome and what TH holds since. It is the
one page for a job: the old job URL leads to it.
"""

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from thsync.config.tenants import Tenant
from thsync.core.errors import SyncError
from thsync.pipeline.job import fetch_people, fetch_plan
from thsync.rules.engine import decide_events
from thsync.rules.ruleset import RuleSet
from thsync.sources.base import HRSource
from thsync.store.jobs import Job
from thsync.web.access import support_only
from thsync.web.pages import Page, json_requested, page, services, tenant_or_404

bp = Blueprint("events", __name__)
SECRET_HEADERS = ("authorization", "cookie", "x-api-key", "x-webhook-token")
TESTER_KEYS = ("action", "rule", "reason", "extracted", "payload", "trace", "problems")


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: "[redacted]" if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}


def eh_record(attempts: list[dict[str, Any]]) -> str | None:
    """The employee as EH returned it on the last attempt (the call log's excerpt)."""
    for attempt in reversed(attempts):
        for call in attempt["calls"]:
            if call["service"] == "eh" and "/employees/" in call["path"] and call["excerpt"]:
                return call["excerpt"]
    return None


def event_data(tenant_id: str, job_id: int) -> dict[str, Any]:
    store = services().store
    job = store.history.get(job_id)
    if job is None or job.tenant_id != tenant_id:
        abort(404)
    deliveries = store.deliveries.find(tenant_id, job_id=job_id, limit=100)
    for delivery in deliveries:
        delivery["headers"] = redact_headers(json.loads(delivery["headers"] or "{}"))
    attempts = store.history.attempts(job_id)
    decision = job.decision or {}
    return {
        "tenant_id": tenant_id,
        "job": job.__dict__,
        "deliveries": deliveries,
        "eh_record": eh_record(attempts),
        "rule": decision.get("rule"),
        "reason": job.reason or decision.get("reason"),
        "trace": decision.get("trace") or [],
        "extracted": decision.get("extracted"),
        "payload": decision.get("payload"),
        "attempts": attempts,
        "outcome": {"status": job.status, "outcome": job.outcome, "reason": job.reason},
        "snapshot": store.people.get(tenant_id, job.employee_id),
    }


@page(bp, "/tenants/<tenant_id>/events/<int:job_id>", template="events/event.html")
def event_page(tenant_id: str, job_id: int) -> Page:
    tenant, _ = tenant_or_404(tenant_id)
    return Page(event_data(tenant_id, job_id), html={"tenant": tenant})


@bp.get("/tenants/<tenant_id>/jobs/<int:job_id>", endpoint="job_page")
@bp.get("/tenants/<tenant_id>/jobs/<int:job_id>.json", endpoint="job_json")
def old_job_page(tenant_id: str, job_id: int) -> ResponseReturnValue:
    """The job page was the event page's double; links to it made before still work."""
    endpoint = "events.event_json" if json_requested() else "events.event_page"
    return redirect(url_for(endpoint, tenant_id=tenant_id, job_id=job_id))


@bp.post("/tenants/<tenant_id>/events/<int:job_id>/retry")
@support_only
def retry_event(tenant_id: str, job_id: int) -> ResponseReturnValue:
    """A failed job goes back to the queue; any other is synced afresh from its last delivery."""
    tenant_or_404(tenant_id)
    data = event_data(tenant_id, job_id)
    store = services().store
    if not store.jobs.requeue_failed(tenant_id=tenant_id, job_ids=[job_id]):
        delivery_ids = data["job"]["delivery_ids"]
        if delivery_ids:
            store.jobs.queue_replay(delivery_ids[-1])
    return redirect(url_for("events.event_page", tenant_id=tenant_id, job_id=job_id))


# -- people ---------------------------------------------------------------------------------


def matches(job: Job, needle: str) -> bool:
    decision = job.decision or {}
    payload = decision.get("payload") or {}
    extracted = decision.get("extracted") or {}
    names = [job.employee_id, payload.get("email"), payload.get("user_name")]
    names += [payload.get("first_name"), payload.get("last_name"), extracted.get("work_email")]
    full = f"{payload.get('first_name') or ''} {payload.get('last_name') or ''}"
    return any(needle in str(name).lower() for name in [*names, full] if name)


def people_data(tenant_id: str) -> dict[str, Any]:
    needle = request.args.get("q", "").strip().lower()
    store = services().store
    people: dict[str, list[dict[str, Any]]] = {}
    if needle:
        for job in store.history.find(tenant_id=tenant_id, limit=2000):
            if matches(job, needle):
                people.setdefault(job.employee_id, []).append(job.__dict__)
    found = [
        {
            "employee_id": employee_id,
            "history": jobs,
            "th_state": store.people.get(tenant_id, employee_id),
        }
        for employee_id, jobs in people.items()
    ]
    return {"tenant_id": tenant_id, "q": needle, "people": found}


@page(bp, "/tenants/<tenant_id>/people", template="events/people.html")
def people(tenant_id: str) -> Page:
    tenant, _ = tenant_or_404(tenant_id)
    return Page(people_data(tenant_id), html={"tenant": tenant})


# -- rule tester ----------------------------------------------------------------------------


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise SyncError(f"the {what} is not JSON: {exc}") from exc


def read_people(
    source: HRSource, ruleset: RuleSet, event: dict[str, Any], event_type: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    employee_id = source.read_event(ruleset, event).get("employee_id")
    if not employee_id:
        raise SyncError("the event names no employee, and none was pasted")
    plan = fetch_plan(ruleset, [event_type])
    people = fetch_people(source, str(employee_id), event, plan)
    if people[0] is None:
        raise SyncError(f"{source.label} has no employee {employee_id}")
    return people


def try_rules(tenant: Tenant, ruleset: RuleSet, form: MultiDict[str, str]) -> dict[str, Any]:
    """Decide on the pasted (or picked) event and employee; nothing is sent anywhere."""
    svc = services()
    event = parse_json(form.get("event", ""), "event")
    if event is None and form.get("delivery_id"):
        delivery = svc.store.deliveries.get(int(form["delivery_id"]))
        if delivery is None or delivery["tenant_id"] != tenant.id:
            abort(404)
        event = json.loads(delivery["body"] or "{}")
    event = event or {}
    with svc.source_for(tenant) as source:
        event_type = source.read_event(ruleset, event).get("event_type")
        employee = parse_json(form.get("employee", ""), "employee")
        manager, custom = None, None
        if employee is None:  # read from the HR source, as a sync would (reads only)
            employee, manager, custom = read_people(source, ruleset, event, event_type)
    now = datetime.fromtimestamp(svc.clock.now(), ZoneInfo(tenant.time_zone))
    decision = decide_events(ruleset, tenant, event, [event_type], employee, manager, custom, now)
    shown = decision.as_dict()
    return {key: shown[key] for key in TESTER_KEYS}


def tester_data(tenant: Tenant, ruleset: RuleSet) -> dict[str, Any]:
    tenant_id = tenant.id
    recent = services().store.deliveries.find(tenant_id, limit=20)
    result, error = None, None
    if request.method == "POST":
        try:
            result = try_rules(tenant, ruleset, request.form)
        except SyncError as exc:
            error = str(exc)
    return {
        "tenant_id": tenant_id,
        "recent": [
            {k: d[k] for k in ("id", "event_type", "employee_id", "received_at")}
            for d in recent
            if d["status"] == "accepted"
        ],
        "form": dict(request.form),
        "result": result,
        "error": error,
    }


@page(
    bp,
    "/tenants/<tenant_id>/rule-tester",
    template="events/rule_tester.html",
    methods=("GET", "POST"),
)
@support_only
def rule_tester(tenant_id: str) -> Page:
    tenant, ruleset = tenant_or_404(tenant_id)
    data = tester_data(tenant, ruleset)
    return Page(data, status=400 if data["error"] else 200, html={"tenant": tenant})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
