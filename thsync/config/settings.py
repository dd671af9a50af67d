"""Every setting in one place: name, default, help. Drives validation, `settings` CLI and README.

A setting is read from the environment variable of the same name; `create_app(config)` values
win over the environment (tests build isolated apps from a dict).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str

    def parse(self, raw: Any) -> Any:
        if raw is None or isinstance(raw, type(self.default)) or self.default is None:
            return raw
        if isinstance(self.default, bool):
            return str(raw).strip().lower() in ("1", "true", "yes", "on")
        if isinstance(self.default, int):
            return int(raw)
        if isinstance(self.default, float):
            return float(raw)
        return str(raw)


SETTINGS = (
    Setting("MODE", "development", "development (sandboxes, demo tenant) or production"),
    Setting("HOST", "127.0.0.1", "address the server listens on"),
    Setting("PORT", 8000, "port the server listens on"),
    Setting(
        "PUBLIC_URL",
        "",
        "external base URL (OAuth redirect, links in e-mails); default http://HOST:PORT",
    ),
    Setting("DATABASE_URL", "", "SQLAlchemy URL; empty = SQLite file in INSTANCE_PATH"),
    Setting("INSTANCE_PATH", "instance", "folder for the SQLite database and dev keys"),
    Setting("RULES_DIR", "rules", "folder of rule files"),
    Setting("TENANTS_DIR", "tenants", "folder of tenant files"),
    Setting("SECRET_KEY", "", "Flask session key; required in production"),
    Setting(
        "THSYNC_ENCRYPTION_KEY",
        "",
        "Fernet key(s), comma-separated, newest first, for tokens at rest; required in production",
    ),
    Setting("RUN_WORKER", True, "run the worker as a thread inside the server"),
    Setting("WORKER_POLL_SECONDS", 1.0, "how often an idle worker looks for due jobs"),
    Setting("COALESCE_SECONDS", 3.0, "events for one employee within this window become one sync"),
    Setting(
        "LEASE_SECONDS",
        120.0,
        "how long a claimed job stays a worker's before others may take it over",
    ),
    Setting("MAX_ATTEMPTS", 8, "attempts before a job with temporary errors is marked failed"),
    Setting(
        "RETRY_MAX_MINUTES",
        15.0,
        "longest wait between two tries of a failing job (the backoff grows 10 s × 3ⁿ up to it)",
    ),
    Setting(
        "TH_CALLS_PER_MINUTE",
        240,
        "most TH calls in any 60 s per portal, all workers together (TH allows 300 and blocks "
        "the portal for 60 s on a 429; its contract asks clients to stay at or under 240)",
    ),
    Setting(
        "EH_CALLS_PER_MINUTE",
        95,
        "most EH calls in any 60 s per tenant, all workers together (EH allows 100; 5 spare "
        "for requests reaching EH closer together than granted)",
    ),
    Setting(
        "EH_CALLS_PER_SECOND",
        18,
        "most EH calls in any second per tenant, all workers together (EH allows 20; a second "
        "is short against network delay, so 2 spare)",
    ),
    Setting("MAX_BODY_BYTES", 1048576, "largest webhook body accepted (413 above)"),
    Setting("RELOAD_SECONDS", 2.0, "how often rule and tenant files are checked for edits"),
    Setting("HTTP_TIMEOUT", 10.0, "seconds before an EH or TH call times out"),
    Setting("SANDBOX_EH_PORT", 8001, "development: port of the Employment Hero sandbox"),
    Setting("SANDBOX_TH_PORT", 8002, "development: port of the Tribal Habits sandbox"),
    Setting(
        "SUPPORT_USERS",
        "",
        "support accounts: a file of name:hash lines, or the entries comma-separated "
        "(`flask --app server support hash-password NAME` prints one)",
    ),
    Setting("SESSION_HOURS", 12.0, "how long a dashboard sign-in lasts"),
    Setting("SIGNIN_LINK_HOURS", 72.0, "how long a customer's sign-in link stays usable (once)"),
    Setting("SIGNIN_ATTEMPTS", 5, "failed sign-ins per user or address per 15 minutes"),
    Setting("SILENCE_BUSINESS_DAYS", 3, "alert when a live tenant sends no webhook this long"),
    Setting("ALERT_REPEAT_MINUTES", 60.0, "at most one e-mail per tenant and cause this often"),
    Setting("LOG_LEVEL", "INFO", "logging level"),
    Setting("MAIL_SERVER", "", "SMTP server for alerts; empty = alerts are only logged"),
    Setting("MAIL_PORT", 25, "SMTP port"),
    Setting("MAIL_USE_TLS", False, "STARTTLS to the SMTP server"),
    Setting("MAIL_USE_SSL", False, "SMTP over TLS"),
    Setting("MAIL_USERNAME", "", "SMTP user"),
    Setting("MAIL_PASSWORD", "", "SMTP password"),
    Setting("MAIL_DEFAULT_SENDER", "integrations@tribalhabits.example", "From: of alert e-mails"),
    Setting("SUPPORT_EMAIL", "", "support's address, copied on safeguard alerts (held actions)"),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "THSYNC_ENCRYPTION_KEY", "DATABASE_URL", "PUBLIC_URL")


class SettingsError(Exception):
    """The server's settings are incomplete."""


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """Defaults, then the environment, then `overrides` (which may hold non-setting keys too)."""
    values = {s.name: s.parse(env.get(s.name, s.default)) for s in SETTINGS}
    for key, value in (overrides or {}).items():
        values[key] = BY_NAME[key].parse(value) if key in BY_NAME else value
    if not values["PUBLIC_URL"] and values["MODE"] != "production":
        # Production must say where it is reached (OAuth redirects, links in e-mails).
        values["PUBLIC_URL"] = f"http://{values['HOST']}:{values['PORT']}"
    values["PUBLIC_URL"] = values["PUBLIC_URL"].rstrip("/")
    return values


def check_production(values: Mapping[str, Any]) -> None:
    if values["MODE"] != "production":
        return
    missing = [name for name in REQUIRED_IN_PRODUCTION if not values.get(name)]
    if missing:
        raise SettingsError(
            "production mode needs these settings, which are empty: " + ", ".join(missing)
        )
