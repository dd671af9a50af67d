"""Tenant files (tenants/<id>.yaml): who the customer is and where to connect.

Secrets are never written in these files: `client_secret`, `api_key` and the webhook `token`
must be `${ENV_NAME}` references, resolved from the environment at load. Any string value may
use `${NAME}` or `${NAME:-default}`.
"""

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from thsync.core.errors import UnknownSource
from thsync.core.yamlsafe import KeyPath, YamlError, load_yaml_file
from thsync.sources.registry import DEFAULT_SOURCE, source_kind

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_KEYS = {
    ("employment_hero", "client_secret"),
    ("tribal_habits", "api_key"),
    ("webhook", "token"),
}
EH_API = "https://api.employmenthero.com/api/v1"
EH_OAUTH = "https://oauth.employmenthero.com"

# section -> {key: (required, kind)}; kinds: str, bool, list, enum values as a tuple
Kind = str | tuple[str, ...]
SCHEMA: dict[str | None, dict[str, tuple[bool, Kind]]] = {
    None: {
        "id": (False, "str"),
        "development_only": (False, "bool"),
        "mode": (False, ("shadow", "live", "paused")),  # where a new tenant starts
        "name": (True, "str"),
        "time_zone": (True, "str"),
        "source": (False, "str"),  # the HR source's kind (thsync.sources.registry)
        "employment_hero": (False, "section"),  # required when the source is Employment Hero
        "tribal_habits": (True, "section"),
        "alerts": (False, "section"),
        "webhook": (True, "section"),
    },
    "employment_hero": {
        "org_uuid": (False, "str"),
        "client_id": (True, "str"),
        "client_secret": (True, "str"),
        "api_base": (False, "str"),
        "oauth_base": (False, "str"),
    },
    "tribal_habits": {
        "base_url": (True, "str"),
        "api_key": (True, "str"),
        "update_mode": (False, ("partial", "replace")),
        "send_invite": (False, "bool"),
    },
    "alerts": {"recipients": (False, "list")},
    "webhook": {"token": (True, "str")},
}


@dataclass
class TenantError:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class TenantFileErrors(Exception):
    """A tenant file is invalid."""

    def __init__(self, errors: list[TenantError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class Tenant:
    id: str
    name: str
    time_zone: str
    eh_client_id: str
    eh_client_secret: str = field(repr=False)
    eh_org_uuid: str | None
    eh_api_base: str
    eh_oauth_base: str
    th_base_url: str
    th_api_key: str = field(repr=False)
    th_update_mode: str
    th_send_invite: bool
    alert_recipients: list[str]
    webhook_token: str = field(repr=False)
    file: str = ""
    mode: str = "shadow"  # the initial mode; support's switches are kept in the database
    source: str = DEFAULT_SOURCE  # the HR source's kind, as thsync.sources.registry names it

    def context(self) -> dict[str, Any]:
        """What rules see of the tenant (no secrets)."""
        return {"id": self.id, "name": self.name, "time_zone": self.time_zone}

    @property
    def th_limiter_key(self) -> str:
        # One budget per TH portal, however many tenants point at it.
        parts = urlsplit(self.th_base_url)
        return f"th:{parts.netloc.lower()}"

    @property
    def eh_limiter_key(self) -> str:
        return f"eh:{self.id}"

    @property
    def eh_authorize_url(self) -> str:
        return self.eh_oauth_base.rstrip("/") + "/oauth2/authorize"

    @property
    def eh_token_url(self) -> str:
        return self.eh_oauth_base.rstrip("/") + "/oauth2/token"


ENV_PREFIX = {"employment_hero": "EH", "tribal_habits": "TH", "webhook": "WEBHOOK"}


def suggested_env_name(tenant_id: str, path: KeyPath) -> str:
    """ACME_TH_API_KEY for tribal_habits.api_key of tenant acme: the README's convention."""
    section, key = path
    prefix = ENV_PREFIX[section]
    name = key.upper() if prefix == key.upper() else f"{prefix}_{key.upper()}"
    return f"{re.sub(r'[^A-Za-z0-9]', '_', tenant_id).upper()}_{name}"


class _Checker:
    def __init__(
        self,
        file: str,
        lines: Mapping[KeyPath, int],
        env: Mapping[str, str],
        tenant_id: str = "",
    ) -> None:
        self.file, self.lines, self.env = file, lines, env
        self.errors: list[TenantError] = []
        self.tenant_id = tenant_id

    def error(self, path: KeyPath, message: str) -> None:
        line = self.lines.get(path) or self.lines.get(path[:1]) or None
        self.errors.append(TenantError(self.file, line, ".".join(path), message))

    def resolve(self, path: KeyPath, value: object) -> object:
        if not isinstance(value, str):
            return value
        if path in SECRET_KEYS and not REFERENCE.fullmatch(value.strip()):
            env_name = suggested_env_name(self.tenant_id, path)
            self.error(
                path,
                "a literal secret is not allowed in a tenant file; write "
                f"${{{env_name}}} and set that variable in the server's environment",
            )
            return None

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.error(path, f"environment variable {name} is not set")
            return ""

        return REFERENCE.sub(substitute, value)

    def section(self, name: str | None, data: object) -> dict[str, Any]:
        schema = SCHEMA[name]
        where = (name,) if name else ()
        if not isinstance(data, dict):
            self.error(where, "must be a mapping")
            return {}
        for key in data:
            if key not in schema:
                hint = difflib.get_close_matches(str(key), schema, n=1)
                tip = f"; did you mean '{hint[0]}'?" if hint else ""
                allowed = ", ".join(schema)
                self.error(where + (key,), f"unknown key (allowed: {allowed}){tip}")
        out: dict[str, Any] = {}
        for key, (required, kind) in schema.items():
            path = where + (key,)
            if key not in data or data[key] in (None, ""):
                if required:
                    self.error(path if key in data else where or path, f"'{key}' is required")
                continue
            out[key] = self.value(path, kind, data[key])
        return out

    def value(self, path: KeyPath, kind: Kind, raw: object) -> object:
        if kind == "section":
            return self.section(path[-1], raw)
        if kind == "bool":
            if not isinstance(raw, bool):
                self.error(path, "must be true or false")
            return bool(raw)
        if kind == "list":
            items = raw if isinstance(raw, list) else [raw]
            return [self.resolve(path, str(item)) for item in items]
        value = self.resolve(path, raw if isinstance(raw, str) else str(raw))
        if isinstance(kind, tuple) and value not in kind:
            self.error(path, f"must be one of: {', '.join(kind)} (was {value!r})")
        return value


def _validate(tenant_id: str, data: dict[str, Any], checker: _Checker) -> None:
    if not TENANT_ID.match(tenant_id):
        checker.error((), "the file name must be a tenant id: lower-case letters, digits, - or _")
    if data.get("id") not in (None, tenant_id):
        checker.error(("id",), f"must match the file name ('{tenant_id}')")
    try:
        ZoneInfo(str(data.get("time_zone")))
    except (ZoneInfoNotFoundError, ValueError):
        checker.error(("time_zone",), f"unknown time zone {data.get('time_zone')!r}")
    token = data.get("webhook", {}).get("token")
    if token and len(token) < 24:
        checker.error(("webhook", "token"), "the token must be at least 24 characters")


def _validate_source(data: dict[str, Any], checker: _Checker) -> None:
    """The source must be a registered kind, and the section it reads must be there."""
    try:
        kind = source_kind(data.get("source", DEFAULT_SOURCE))
    except UnknownSource as exc:
        checker.error(("source",), str(exc))
        return
    if kind.section and kind.section not in data:
        checker.error((kind.section,), f"'{kind.section}' is required")


def shown_name(path: Path) -> str:
    """How messages name a file: its folder and name, as support sees it (tenants/acme.yaml)."""
    return f"{path.resolve().parent.name}/{path.name}"


def build_tenant(
    tenant_id: str,
    path: Path,
    data: dict[str, Any],
    lines: Mapping[KeyPath, int],
    env: Mapping[str, str],
) -> Tenant:
    checker = _Checker(shown_name(path), lines, env, tenant_id)
    clean = checker.section(None, data)
    _validate_source(clean, checker)
    if not checker.errors:
        _validate(tenant_id, clean, checker)
    if checker.errors:
        raise TenantFileErrors(checker.errors)
    eh, th = clean.get("employment_hero", {}), clean["tribal_habits"]
    return Tenant(
        id=tenant_id,
        name=clean["name"],
        time_zone=clean["time_zone"],
        eh_client_id=eh.get("client_id", ""),
        eh_client_secret=eh.get("client_secret", ""),
        eh_org_uuid=eh.get("org_uuid"),
        eh_api_base=eh.get("api_base", EH_API).rstrip("/"),
        eh_oauth_base=eh.get("oauth_base", EH_OAUTH).rstrip("/"),
        th_base_url=th["base_url"].rstrip("/"),
        th_api_key=th["api_key"],
        th_update_mode=th.get("update_mode", "partial"),
        th_send_invite=th.get("send_invite", False),
        alert_recipients=clean.get("alerts", {}).get("recipients", []),
        webhook_token=clean["webhook"]["token"],
        file=str(path),
        mode=clean.get("mode", "shadow"),
        source=clean.get("source", DEFAULT_SOURCE),
    )


def load_tenant(
    path: Path, env: Mapping[str, str] | None = None, production: bool = False
) -> Tenant | None:
    """Load and validate one tenant file; raises TenantFileErrors listing every problem.
    None for a development-only tenant (the demo) when running in production."""
    env = os.environ if env is None else env
    try:
        data, lines = load_yaml_file(path)
    except YamlError as exc:
        error = TenantError(shown_name(path), exc.line, "", exc.message)
        raise TenantFileErrors([error]) from exc
    if not isinstance(data, dict):
        error = TenantError(shown_name(path), 1, "", "must be a mapping of settings")
        raise TenantFileErrors([error])
    if production and data.get("development_only") is True:
        return None
    return build_tenant(path.stem, path, data, lines, env)


def tenant_files(tenants_dir: Path) -> list[Path]:
    return sorted(p for p in Path(tenants_dir).glob("*.yaml") if not p.name.startswith("."))
