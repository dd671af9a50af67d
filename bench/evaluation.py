"""(b) the rules engine versus the least code that maps the same fields by hand."""

import json
from pathlib import Path

import jinja2
import jmespath

from thsync.rules.engine import build_context, evaluate
from thsync.rules.ruleset import load_ruleset

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sandboxes" / "demo_data"
PEOPLE = (
    "employee-active",
    "employee-new-starter",
    "employee-leaver",
    "employee-contractor",
    "employee-manager",
)
TENANT = {"id": "bench", "name": "Bench", "time_zone": "Australia/Sydney"}


def _load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())["data"]


def _events() -> list[dict]:
    manager = _load("employee-manager")
    events = []
    for name in PEOPLE:
        employee = _load(name)
        has_manager = (employee.get("primary_manager") or {}).get("id") == manager["id"]
        events.append(
            {
                "body": {"event": "employee_created", "data": {"id": employee["id"]}},
                "employee": employee,
                "manager": manager if has_manager else None,
            }
        )
    return events


EVENTS = _events()


def run_engine(now):
    ruleset = load_ruleset(REPO / "rules", "standard")

    def run(event):
        context = build_context(
            event=event["body"],
            event_type="employee_created",
            employee=event["employee"],
            manager=event["manager"],
            custom_fields=None,
            tenant=TENANT,
            now=now,
        )
        decision = evaluate(ruleset, context)
        return decision.action, decision.payload

    return run


FIELDS = {
    "first_name": "employee.first_name",
    "last_name": "employee.last_name",
    "work_email": "employee.company_email || employee.account_email",
    "manager_email": "manager.company_email || manager.account_email",
    "job_title": "employee.job_title",
    "location": "employee.location",
    "team": "employee.teams[].name",
    "employment_type": "employee.employment_type",
    "status": "employee.status",
    "termination_date": "employee.termination_date",
    "contractor": "employee.independent_contractor",
}
TEMPLATES = {
    "user_name": "employee.id",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "work_email",
    "manager_email": "manager_email",
    "X-Job Title": "job_title",
    "X-Location": "location",
    "X-Team": "team",
    "X-Employment Type": "employment_type",
}


def handwritten(now):
    """The same mapping with no engine: compiled JMESPath, Jinja expressions, fixed logic."""
    today = now.date().isoformat()
    fields = {name: jmespath.compile(expr) for name, expr in FIELDS.items()}
    env = jinja2.Environment()
    templates = {key: env.compile_expression(src) for key, src in TEMPLATES.items()}

    def run(event):
        scope = {"employee": event["employee"], "manager": event["manager"]}
        values = {name: expr.search(scope) for name, expr in fields.items()}
        values = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
        values["team"] = ";".join(values["team"]) if values["team"] else None
        if values["contractor"]:
            return "skip", None
        ended = values["termination_date"] and values["termination_date"][:10] <= today
        if values["status"] == "terminated" or ended:
            return "deactivate", {"user_name": event["employee"]["id"], "active": False}
        payload = {
            key: template(**values, employee=event["employee"])
            for key, template in templates.items()
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        for key in ("email", "manager_email"):
            if key in payload:
                payload[key] = payload[key].strip().lower()
        payload["active"] = True
        return "upsert", payload

    return run
