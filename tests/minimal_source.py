"""A second HR source for the tests: a people directory kept in a JSON file, with webhooks of
its own shape. It exists to prove the seam: nothing in the pipeline, the rules engine or the
store knows it, yet a tenant whose file says `source: directory` syncs through it.

The file holds {"people": {id: record}}; a record is {id, given, family, mail, boss, status,
fields}. A webhook body is {"type": ..., "uuid": ..., "person": ..., "org": ...}.
"""

import json
from pathlib import Path

from thsync.core.errors import PermanentError
from thsync.sources.base import SourcePerson
from thsync.sources.registry import SourceKind

KIND = "directory"
PER_MINUTE = 600


class DirectorySource:
    kind = KIND
    label = "the people directory"

    def __init__(self, path: Path, services, tenant, *, recorder=None, limiter=None):
        self.path = path
        self.tenant = tenant
        self.limiter = limiter or services.limiter
        self.budget_key = f"{KIND}:{tenant.id}"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def read_event(self, ruleset, body: dict) -> dict:
        return {
            "event_type": body.get("type"),
            "event_id": body.get("uuid"),
            "employee_id": body.get("person"),
            "organisation_id": body.get("org"),
        }

    def event_field(self, ruleset, name: str) -> str:
        return {"event_type": "type", "event_id": "uuid", "employee_id": "person"}.get(name, name)

    def event_person(self, body: dict) -> dict:
        return {}

    def organisation(self) -> str:
        return self.tenant.id

    def _people(self) -> dict:
        self.limiter.acquire(self.budget_key, PER_MINUTE)  # one read, one slot, like an API
        return json.loads(self.path.read_text())["people"]

    def get_person(self, person_id: str) -> dict | None:
        return self._people().get(person_id)

    def get_manager(self, person: dict) -> dict | None:
        return self._people().get(person.get("boss")) if person.get("boss") else None

    def custom_fields(self, person_id: str) -> dict:
        return dict((self.get_person(person_id) or {}).get("fields") or {})

    def iter_people(self):
        yield from self._people().values()

    def identify(self, person: dict) -> SourcePerson:
        name = f"{person.get('given', '')} {person.get('family', '')}".strip()
        keys = tuple(person[k] for k in ("id", "mail") if person.get(k))
        return SourcePerson(person.get("id"), person.get("boss"), name, keys)

    def why_absent(self, person_id: str) -> str:
        return f"the people directory has no person {person_id}"

    def connect_url(self, redirect_uri: str, state: str) -> tuple[str, str]:
        raise PermanentError("the people directory needs no connection")

    def complete_connection(self, redirect_uri: str, code: str, secret: str) -> list[dict]:
        raise PermanentError("the people directory needs no connection")


def directory_kind(path: Path) -> SourceKind:
    """The registry entry for a directory kept at `path`."""

    def open_directory(services, tenant, *, recorder=None, limiter=None):
        return DirectorySource(path, services, tenant, recorder=recorder, limiter=limiter)

    return SourceKind(KIND, open_directory)
