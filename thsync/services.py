"""The server's parts wired together once per process: store, clock, limiter, vault, registry,
and the HR source and TH client each job gets. The web app, the worker and the CLI all share
one Services."""

import logging
import os
from pathlib import Path

from thsync.config.registry import Registry
from thsync.config.settings import SettingsError
from thsync.core.clock import SystemClock
from thsync.core.crypto import Cipher
from thsync.core.ratelimit import Limiter
from thsync.sources.base import HRSource
from thsync.sources.employment_hero.tokens import TokenVault
from thsync.sources.registry import open_source
from thsync.store.database import sqlite_url_for
from thsync.store.repositories import Store
from thsync.tribal_habits.client import THClient

log = logging.getLogger(__name__)


def dev_encryption_key(instance_path: str) -> str:
    """Development only: a key kept in the instance folder so restarts can read old tokens."""
    path = Path(instance_path) / "dev-encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        from cryptography.fernet import Fernet

        path.write_text(Fernet.generate_key().decode())
        os.chmod(path, 0o600)
    return path.read_text().strip()


def make_cipher(settings) -> Cipher:
    key = settings["THSYNC_ENCRYPTION_KEY"]
    if not key:
        if settings["MODE"] == "production":
            raise SettingsError("THSYNC_ENCRYPTION_KEY is required in production")
        key = dev_encryption_key(settings["INSTANCE_PATH"])
    return Cipher(key)


class Services:
    def __init__(self, settings: dict, clock=None, alerter=None):
        self.settings = settings
        self.clock = clock or SystemClock()
        url = settings["DATABASE_URL"] or sqlite_url_for(settings["INSTANCE_PATH"])
        self.store = Store(url, self.clock)
        self.store.upgrade()
        self.limiter = Limiter(self.store.budgets, self.clock)
        self.vault = TokenVault(self.store, make_cipher(settings))
        self.registry = Registry(
            settings["TENANTS_DIR"],
            settings["RULES_DIR"],
            self.clock,
            check_every=settings["RELOAD_SECONDS"],
            env=settings.get("ENV"),
            production=settings["MODE"] == "production",
        )
        self.alerter = alerter

    def source_for(self, tenant, recorder=None, limiter=None) -> HRSource:
        """The tenant's HR source (its file's `source`), reporting calls to the recorder."""
        return open_source(self, tenant, recorder=recorder, limiter=limiter)

    def th_client(self, tenant, recorder=None) -> THClient:
        from thsync.people.modes import client_class  # shadow mode: TH writes recorded, not sent

        return client_class(self, tenant)(
            tenant.th_base_url,
            tenant.th_api_key,
            limiter=self.limiter,
            limiter_key=tenant.th_limiter_key,
            update_mode=tenant.th_update_mode,
            send_invite=tenant.th_send_invite,
            timeout=self.settings["HTTP_TIMEOUT"],
            recorder=recorder,
            per_minute=self.settings["TH_CALLS_PER_MINUTE"],
        )

    def alert_failure(self, job, reason: str) -> None:
        """Tell the tenant's alert recipients; never lets an alerting problem stop syncing."""
        if self.alerter is None:
            return
        try:
            self.alerter.job_failed(job, reason)
        except Exception:
            log.exception("could not send the failure alert for job %s", job.id)

    def close(self) -> None:
        self.store.close()
