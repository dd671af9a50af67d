"""The server's parts, built once per process at start-up: settings, clock, store and its
repositories, limiter, token vault, tenant registry, mail and the alert desk, and the HR
source and TH client each job gets. The web app, the worker and the CLI all share one
Services; nothing attaches itself to it later."""

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet

from thsync.alerts.desk import AlertDesk
from thsync.alerts.mail import configure_mail
from thsync.config.registry import Registry
from thsync.config.settings import SettingsError
from thsync.config.tenants import Tenant
from thsync.core.clock import Clock, SystemClock
from thsync.core.crypto import Cipher
from thsync.core.http import Recorder
from thsync.core.ratelimit import Limiter
from thsync.people.modes import client_class
from thsync.pipeline.worker import start_thread
from thsync.sources.base import HRSource
from thsync.sources.employment_hero.tokens import TokenVault
from thsync.sources.registry import open_source
from thsync.store.database import sqlite_url_for
from thsync.store.jobs import Job
from thsync.store.repositories import Store
from thsync.tribal_habits.client import THClient

if TYPE_CHECKING:  # the app is handed in; Services itself needs nothing of Flask
    from flask import Flask

log = logging.getLogger(__name__)


def dev_encryption_key(instance_path: str) -> str:
    """Development only: a key kept in the instance folder so restarts can read old tokens."""
    path = Path(instance_path) / "dev-encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        os.chmod(path, 0o600)
    return path.read_text().strip()


def make_cipher(settings: dict[str, Any]) -> Cipher:
    key = settings["THSYNC_ENCRYPTION_KEY"]
    if not key:
        if settings["MODE"] == "production":
            raise SettingsError("THSYNC_ENCRYPTION_KEY is required in production")
        key = dev_encryption_key(settings["INSTANCE_PATH"])
    return Cipher(key)


class Services:
    def __init__(self, settings: dict[str, Any], app: "Flask", clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
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
        self.mail = configure_mail(app, settings)
        self.alert_desk = AlertDesk(self, app, self.mail)
        self.worker_stop: threading.Event | None = None

    def source_for(
        self, tenant: Tenant, recorder: Recorder | None = None, limiter: Limiter | None = None
    ) -> HRSource:
        """The tenant's HR source (its file's `source`), reporting calls to the recorder."""
        return open_source(self, tenant, recorder=recorder, limiter=limiter)

    def th_client(self, tenant: Tenant, recorder: Recorder | None = None) -> THClient:
        # shadow mode: TH writes are recorded in the call log, not sent
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

    def alert_failure(self, job: Job, reason: str) -> None:
        """Tell the tenant's alert recipients; never lets an alerting problem stop syncing."""
        try:
            self.alert_desk.job_failed(job, reason)
        except Exception:
            log.exception("could not send the failure alert for job %s", job.id)

    def start_worker(self) -> None:
        """The worker as a thread of this process, when RUN_WORKER says so (once)."""
        if self.settings["RUN_WORKER"] and self.worker_stop is None:
            _, self.worker_stop = start_thread(self)

    def close(self) -> None:
        if self.worker_stop is not None:
            self.worker_stop.set()
        self.store.close()
