"""The go-live checklist: the scenarios a customer tests with support, each proved by a real job
that went through (in live or in shadow), and the SSO key (TH matches logins on user_name)."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thsync.config.tenants import Tenant
from thsync.rules.ruleset import RuleSet
from thsync.store.jobs import Job
from thsync.tribal_habits.shadow import WOULD

if TYPE_CHECKING:
    from thsync.services import Services

CREATED = ("created", WOULD["created"])
UPDATED = ("updated", WOULD["updated"])
DEACTIVATED = ("deactivated", WOULD["deactivated"])
USER_NAME_SOURCES = {
    "id": "the EH employee id",
    "code": "the EH employee code",
    "work_email": "the EH work e-mail",
}


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    how: str  # what the customer does in EH to prove it

    def proved_by(self, job: Job) -> bool:
        return PROOFS[self.key](job)


def _rule(job: Job) -> str | None:
    return (job.decision or {}).get("rule")


def _changed(job: Job) -> set[str]:
    return set((job.decision or {}).get("changes") or {})


PROOFS: dict[str, Callable[[Job], bool]] = {
    "new_person": lambda job: job.status == "succeeded" and job.outcome in CREATED,
    "updated_person": lambda job: job.status == "succeeded" and job.outcome in UPDATED,
    "offboarded_person": lambda job: job.status == "succeeded" and job.outcome in DEACTIVATED,
    "rehire": lambda job: job.status == "succeeded" and _rule(job) == "rehires",
    "excluded_person": lambda job: (
        job.status == "skipped" and job.outcome == "skipped" and _rule(job) is not None
    ),
    "custom_fields": lambda job: (
        job.status == "succeeded" and any(key.startswith("X-") for key in _changed(job))
    ),
}

ITEMS = (
    Item("new_person", "New person", "Add a person in Employment Hero ({trigger})."),
    Item(
        "updated_person",
        "Updated person",
        "Change a person's name, job title, location or manager.",
    ),
    Item("offboarded_person", "Offboarded person", "Offboard a person (termination)."),
    Item("rehire", "Rehire", "Rehire someone who had left."),
    Item("excluded_person", "Excluded person", "Add someone the rules leave out (a contractor)."),
    Item("custom_fields", "Custom fields", "Change a field that maps to a TH custom field (X-…)."),
)
BY_KEY = {item.key: item for item in ITEMS}


def _jobs(found: list[Job | None]) -> list[Job]:
    """The jobs found (the history gives None only for a job no longer there)."""
    return [job for job in found if job is not None]


def trigger_text(options: dict[str, Any]) -> str:
    if options.get("create_on"):
        return f"the sync creates them on {options['create_on']}"
    return "the sync creates them when EH reports the new employee"


def items(services: "Services", tenant: Tenant, ruleset: RuleSet | None) -> list[dict[str, Any]]:
    jobs = _jobs(services.store.history.succeeded(tenant.id))
    marks = services.store.tenant_state.checklist_marks(tenant.id)
    trigger = trigger_text(dict(ruleset.options)) if ruleset else ""
    out = []
    for item in ITEMS:
        proof = next((job for job in jobs if item.proved_by(job)), None)
        mark = marks.get(item.key)
        state = "done" if proof else "not_applicable" if mark else "waiting"
        out.append(
            {
                "key": item.key,
                "title": item.title,
                "how": item.how.format(trigger=trigger),
                "state": state,
                "proved_by_job": proof.id if proof else None,
                "proved_by_employee": proof.employee_id if proof else None,
                "marked_by": mark["marked_by"] if mark else None,
            }
        )
    return out


def sso(
    services: "Services", tenant: Tenant, ruleset: RuleSet | None, limit: int = 5
) -> dict[str, Any]:
    """Which EH field becomes user_name, examples from the tenant's own people, and the people
    for whom it is blank or shared (TH would refuse them, or sign one in as the other)."""
    source = dict(ruleset.options).get("user_name_from", "id") if ruleset else "id"
    latest: dict[str, str | None] = {}
    for job in _jobs(services.store.history.succeeded(tenant.id, limit=2000)):
        payload = (job.decision or {}).get("payload")
        if payload is not None:
            latest[job.employee_id] = payload.get("user_name")
    by_name: defaultdict[str, list[str]] = defaultdict(list)
    for employee_id, user_name in latest.items():
        by_name[(user_name or "").strip()].append(employee_id)
    duplicates = {name: ids for name, ids in by_name.items() if name and len(ids) > 1}
    return {
        "field": source,
        "field_text": USER_NAME_SOURCES.get(source, source),
        "examples": [
            {"employee_id": e, "user_name": u} for e, u in list(latest.items())[:limit] if u
        ],
        "blank": sorted(by_name.get("", [])),
        "duplicates": duplicates,
    }
