"""The Employment Hero sandbox's state: organisations, people, OAuth codes and tokens, rate
windows and webhook targets, behind one lock. Kept on the app (`app.extensions["eh_sandbox"]`)."""

import base64
import copy
import hashlib
import secrets
import threading
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandboxes.common import Faults, RequestLog, Window, clock_of, extension

EXTENSION = "eh_sandbox"
FAULT_KINDS = ("500", "429", "401", "slow", "drop", "invalid_grant")
CODE_SECONDS = 600
DEFAULT_ORG = {
    "id": "00000000-5a4d-4b0c-8000-000000000001",
    "name": "Sandbox Organisation",
    "time_zone": "Australia/Sydney",
}


class State:
    def __init__(self, config: dict):
        self.config = config
        self.clock = clock_of(config)
        self.lock = threading.RLock()
        self.faults = Faults(FAULT_KINDS)
        self.log = RequestLog(self.clock)
        self.organisations = [dict(o) for o in config.get("organisations") or [DEFAULT_ORG]]
        self.user = config.get("user") or default_user(self.organisations)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.employees = {}  # id -> record (with organisation_id)
            self.custom_fields = {}  # employee id -> items
            self.histories = {}  # employee id -> items
            self.codes = {}  # code -> authorize params + expires_at
            self.access = {}  # access token -> expires_at
            self.refresh = set()
            self.webhooks = {}  # organisation id -> url
            self.windows = {}  # access token -> (per-second, per-minute) Window
        self.faults.clear()
        self.log.clear()

    # -- OAuth ---------------------------------------------------------------------------

    def save_code(self, params: dict) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {**params, "expires_at": self.clock.now() + CODE_SECONDS}
        return code

    def take_code(self, code: str) -> dict | None:
        """The authorize parameters behind `code`, which is used up even when it has expired."""
        with self.lock:
            saved = self.codes.pop(code, None)
            if saved is None or saved["expires_at"] <= self.clock.now():
                return None
            return saved

    def issue_tokens(self, refresh_token: str | None = None) -> dict:
        access = secrets.token_urlsafe(32)
        refresh = refresh_token or secrets.token_urlsafe(32)
        ttl = self.config.get("access_token_ttl", 900)
        with self.lock:
            self.access[access] = self.clock.now() + ttl
            self.refresh.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": ttl,
        }

    def use_refresh_token(self, old: str) -> dict | None:
        """New tokens for a valid refresh token; by default the old one dies with its use."""
        rotate = self.config.get("rotate_refresh_tokens", True)
        with self.lock:
            if old not in self.refresh:
                return None
            if rotate:
                self.refresh.discard(old)
            return self.issue_tokens(None if rotate else old)

    def access_problem(self, token: str | None) -> str | None:
        with self.lock:
            expires = self.access.get(token)
        if expires is None:
            return "the access token is unknown"
        if expires <= self.clock.now():
            return "the access token has expired"
        return None

    def over_rate(self, token: str) -> str | None:
        """Count one call for `token`, or say which limit it breaks (then it is not counted)."""
        now = self.clock.now()
        per_second = self.config.get("rate_per_second", 20)
        per_minute = self.config.get("rate_per_minute", 100)
        with self.lock:
            second, minute = self.windows.setdefault(token, (Window(1), Window(60)))
            if second.count(now) >= per_second:
                return f"more than {per_second} requests a second"
            if minute.count(now) >= per_minute:
                return f"more than {per_minute} requests a minute"
            second.add(now)
            minute.add(now)
        return None

    def expire_tokens(self) -> None:
        with self.lock:
            now = self.clock.now()
            self.access = dict.fromkeys(self.access, now)

    # -- people ----------------------------------------------------------------------------

    def default_org(self) -> str:
        return self.organisations[0]["id"]

    def organisation(self, org: str) -> dict | None:
        return next((o for o in self.organisations if o["id"] == org), None)

    def upsert_employee(self, person: dict) -> dict:
        record = copy.deepcopy(person)
        record.setdefault("organisation_id", self.default_org())
        with self.lock:
            self.employees[str(record["id"])] = record
        return copy.deepcopy(record)

    def patch_employee(self, employee_id: str, fields: dict) -> dict | None:
        with self.lock:
            found = self.employees.get(employee_id)
            if found is None:
                return None
            found.update(copy.deepcopy(fields))
            return copy.deepcopy(found)

    def employee(self, employee_id: str, org: str | None = None) -> dict | None:
        with self.lock:
            found = self.employees.get(employee_id)
            if found is None or (org is not None and found.get("organisation_id") != org):
                return None
            return copy.deepcopy(found)

    def org_employees(self, org: str) -> list:
        with self.lock:
            people = [e for e in self.employees.values() if e.get("organisation_id") == org]
            return [copy.deepcopy(e) for e in sorted(people, key=lambda e: e["id"])]

    def set_items(self, kind: str, employee_id: str, items: list) -> None:
        """Replace an employee's custom fields or employment histories."""
        with self.lock:
            getattr(self, kind)[employee_id] = copy.deepcopy(items)

    def items_of(self, kind: str, employee_id: str) -> list:
        with self.lock:
            return copy.deepcopy(getattr(self, kind).get(employee_id, []))

    # -- webhooks ------------------------------------------------------------------------

    def register_webhook(self, url: str, org: str | None) -> None:
        with self.lock:
            self.webhooks[org or self.default_org()] = url

    def webhook_target(self, org: str) -> str | None:
        with self.lock:
            return self.webhooks.get(org) or next(iter(self.webhooks.values()), None)

    def webhook_body(self, spec: dict) -> dict:
        """The body EH is assumed to send (the contract's default shape)."""
        employee_id = spec.get("employee_id")
        person = self.employee(employee_id) if employee_id else None
        org = spec.get("organisation_id") or (person or {}).get("organisation_id")
        org = org or self.default_org()
        return {
            "event": spec["event"],
            "event_id": spec.get("event_id") or f"evt_{uuid.uuid4().hex}",
            "organisation_id": org,
            "created_at": self.local_time(org),
            "data": {"id": employee_id, "organisation_id": org},
        }

    def local_time(self, org: str) -> str:
        """Now, as an ISO date-time in the organisation's time zone (UTC when it has none)."""
        zone_name = (self.organisation(org) or {}).get("time_zone") or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return datetime.fromtimestamp(self.clock.now(), zone).isoformat(timespec="seconds")


def state() -> State:
    return extension(EXTENSION)


def default_user(organisations: list) -> dict:
    """The service user who authorises when the config names none: an owner of every org."""
    email = "integrations@sandbox.example"
    name = "Integration Service User"
    memberships = [
        {
            "member_id": f"m-{n}",
            "organisation_id": org["id"],
            "organisation_name": org.get("name"),
            "role": "owner",
            "email": email,
            "name": name,
        }
        for n, org in enumerate(organisations, start=1)
    ]
    return {"id": "u-sandbox", "email": email, "name": name, "memberships": memberships}


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
