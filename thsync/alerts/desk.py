"""Alerts grouped by cause, with a "resolved" e-mail when the cause clears.

A cause is one kind of trouble of one tenant: a kind of sync failure, the EH connection needing
re-authorisation, or silence (a live tenant with no webhook for SILENCE_BUSINESS_DAYS). The first
occurrence is e-mailed at once; repeats within ALERT_REPEAT_MINUTES are counted and told in one
later e-mail. E-mails go through an outbox: `tick` (run by the worker) sends what is due and
retries what SMTP refused, and an alerting problem is logged, never raised into syncing.
"""

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, render_template
from flask_mail import Message

from thsync.alerts.mail import TimelyMail
from thsync.config.tenants import Tenant
from thsync.people.modes import mode_of
from thsync.store.jobs import Job

if TYPE_CHECKING:
    from thsync.services import Services

log = logging.getLogger(__name__)
TICK_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
MAIL_LEASE_SECONDS = 300.0  # a claimed e-mail is another process's to send for this long
CAUSE_TEXT = {
    "needs_reauth": "the Employment Hero connection needs re-authorisation",
    "silence": "no webhooks are arriving from Employment Hero",
}


def failure_cause(reason: str) -> str:
    """Failures that differ only in names, ids or numbers are one cause."""
    general = re.sub(r"'[^']*'|\"[^\"]*\"|[0-9a-f-]{8,}|\d+", "…", reason or "")
    return "sync_failed:" + general[:150]


def business_days_between(start: datetime, end: datetime) -> int:
    """Whole weekdays from start's day (exclusive) to end's day (inclusive)."""
    days, day = 0, start.date()
    while day < end.date():
        day += timedelta(days=1)
        days += day.weekday() < 5
    return days


def person_name(job: Job) -> str:
    decision = job.decision or {}
    payload = decision.get("payload") or {}
    extracted = decision.get("extracted") or {}
    first = payload.get("first_name") or extracted.get("first_name")
    last = payload.get("last_name") or extracted.get("last_name")
    name = " ".join(part for part in (first, last) if part)
    return f"{name} (EH id {job.employee_id})" if name else f"EH employee {job.employee_id}"


class AlertDesk:
    """Built once by Services: every alert of the server goes through here to the outbox."""

    def __init__(self, services: "Services", app: Flask, mail: TimelyMail) -> None:
        self.app = app  # e-mail bodies are the app's templates; Flask-Mail reads the app
        self.mail = mail  # thsync.alerts.mail.TimelyMail: SMTP with a timeout
        self.services = services
        self.store = services.store
        self.settings = services.settings
        self.last_tick: float | None = None

    @property
    def repeat_seconds(self) -> float:
        return self.settings["ALERT_REPEAT_MINUTES"] * 60

    # -- occurrences ------------------------------------------------------------------------

    def job_failed(self, job: Job, reason: str) -> None:
        """A sync failed: tell the tenant's recipients who, what and why (grouped by cause)."""
        tenant, _ = self.services.registry.get(job.tenant_id)
        if tenant is None or not tenant.alert_recipients:
            log.warning(
                "job %s failed and tenant %s has no alert recipients", job.id, job.tenant_id
            )
            return
        fresh = self.store.history.get(job.id) or job
        person = person_name(fresh)
        detail = {
            "subject": f"Tribal Habits sync failed for {person}",
            "template": "email/job_failed.txt",
            "person": person,
            "reason": reason,
            "job": fresh,
            "link": f"{self.settings['PUBLIC_URL']}/tenants/{tenant.id}/events/{job.id}",
        }
        self.occurred(tenant, failure_cause(reason), detail)

    def held(
        self,
        tenant: Tenant,
        subject: str,
        message: str,
        items: Iterable[str] = (),
        command: str = "",
    ) -> None:
        """A safeguard held something: the tenant's recipients and support hear of it."""
        recipients = list(tenant.alert_recipients)
        support = self.settings.get("SUPPORT_EMAIL")
        if support and support not in recipients:
            recipients.append(support)
        if not recipients:
            log.warning("tenant %s: %s (nobody to e-mail)", tenant.id, subject)
            return
        with self.app.app_context():
            body = render_template(
                "email/lifecycle_alert.txt",
                tenant=tenant,
                message=message,
                items=list(items),
                command=command,
            )
        # Through the outbox: the worker sends it, and retries while SMTP is away.
        self.store.outbox.queue(tenant.id, subject, body, recipients)

    def occurred(self, tenant: Tenant, cause: str, detail: dict[str, Any]) -> None:
        """Count one occurrence; e-mail now unless this cause was e-mailed within the window."""
        alert = self.store.alerts.count(tenant.id, cause, detail.get("reason", ""))
        now = self.services.clock.now()
        if alert["last_sent_at"] is None or now - alert["last_sent_at"] >= self.repeat_seconds:
            template = detail.get("template", "email/alert.txt")
            self.queue(tenant, alert, template, detail, count=alert["unsent"])

    def queue(
        self,
        tenant: Tenant,
        alert: dict[str, Any],
        template: str,
        detail: dict[str, Any],
        count: int,
    ) -> None:
        if not tenant.alert_recipients:
            log.warning("tenant %s has no alert recipients: %s", tenant.id, alert["cause"])
            return
        with self.app.app_context():
            values = {k: v for k, v in detail.items() if k not in ("subject", "template")}
            body = render_template(
                template, tenant=tenant, alert=alert, count=count, **values, **self.words()
            )
        subject = f"[{tenant.name}] {detail['subject']}"
        self.store.outbox.queue(tenant.id, subject, body, tenant.alert_recipients)
        self.store.alerts.sent(alert["id"])

    def words(self) -> dict[str, Any]:
        return {"public_url": self.settings["PUBLIC_URL"], "cause_text": CAUSE_TEXT}

    # -- the worker's tick ------------------------------------------------------------------

    def tick(self, force: bool = False) -> None:
        """Watch the causes that are states, tell grouped repeats, send the outbox."""
        now = self.services.clock.now()
        if not force and self.last_tick is not None and now - self.last_tick < TICK_SECONDS:
            return
        self.last_tick = now
        for tenant in self.services.registry.tenants():
            self.watch_connection(tenant)
            self.watch_silence(tenant, now)
            self.watch_failures(tenant)
        self.tell_repeats(now)
        self.flush()

    def watch_connection(self, tenant: Tenant) -> None:
        status = self.services.vault.status(tenant.id)
        if status.get("status") == "needs_reauth":
            if self.store.alerts.open(tenant.id, "needs_reauth") is None:
                subject = "Employment Hero needs to be connected again"
                self.occurred(tenant, "needs_reauth", {"subject": subject, **status})
        else:
            self.resolve(tenant, "needs_reauth")

    def watch_silence(self, tenant: Tenant, now: float) -> None:
        last = self.services.store.deliveries.last_received_at(tenant.id)
        row = self.store.tenant_state.get_mode(tenant.id) or {}
        since = max(filter(None, [last, row.get("changed_at")]), default=None)
        if mode_of(self.services, tenant) != "live" or since is None:
            return self.resolve(tenant, "silence")
        zone = ZoneInfo(tenant.time_zone)
        quiet = business_days_between(
            datetime.fromtimestamp(since, zone), datetime.fromtimestamp(now, zone)
        )
        if quiet < self.settings["SILENCE_BUSINESS_DAYS"]:
            return self.resolve(tenant, "silence")
        if self.store.alerts.open(tenant.id, "silence") is None:
            subject = f"No webhooks from Employment Hero for {quiet} business days"
            reason = (
                f"nothing received for {quiet} business days: check the webhook in Employment "
                "Hero is still there and the plan still includes webhooks"
            )
            self.occurred(tenant, "silence", {"subject": subject, "reason": reason})
        return None

    def watch_failures(self, tenant: Tenant) -> None:
        """A failure cause clears once a sync of the tenant succeeds after its last failure."""
        for alert in self.store.alerts.open_for(tenant.id, prefix="sync_failed:"):
            if self.store.history.succeeded_since(tenant.id, alert["last_seen_at"]):
                self.resolve(tenant, alert["cause"])

    def resolve(self, tenant: Tenant, cause: str) -> None:
        alert = self.store.alerts.open(tenant.id, cause)
        if alert is None:
            return
        self.store.alerts.resolve(alert["id"])
        detail = {"subject": "Resolved: " + self.cause_text(alert), "reason": alert["detail"]}
        self.queue(tenant, alert, "email/alert_resolved.txt", detail, count=alert["total"])

    def cause_text(self, alert: dict[str, Any]) -> str:
        if alert["cause"] in CAUSE_TEXT:
            return CAUSE_TEXT[alert["cause"]]
        return "syncs failing: " + (alert["detail"] or "")[:80]

    def tell_repeats(self, now: float) -> None:
        before = now - self.repeat_seconds
        for alert in self.store.alerts.due(before):
            tenant, _ = self.services.registry.get(alert["tenant_id"])
            if tenant is not None and self.store.alerts.claim_repeat(alert["id"], before):
                subject = f"{alert['unsent']} more: " + self.cause_text(alert)
                detail = {"subject": subject, "reason": alert["detail"]}
                self.queue(tenant, alert, "email/alert.txt", detail, count=alert["unsent"])

    # -- the outbox -------------------------------------------------------------------------

    def flush(self) -> int:
        sent = 0
        for mail in self.store.outbox.claim(lease=MAIL_LEASE_SECONDS):
            error = self.send(mail)
            retry = min(60.0 * 2 ** mail["attempts"], MAX_RETRY_SECONDS)
            self.store.outbox.done(mail["id"], error=error, retry_in=retry)
            sent += error is None
        return sent

    def send(self, mail: dict[str, Any]) -> str | None:
        if not self.settings.get("MAIL_SERVER"):
            log.warning("no MAIL_SERVER set; alert not sent: %s\n%s", mail["subject"], mail["body"])
            return None
        try:
            with self.app.app_context():  # Message reads its default sender from the app
                message = Message(
                    subject=mail["subject"], recipients=mail["recipients"], body=mail["body"]
                )
                self.mail.send(message)
        except Exception as exc:  # SMTP refused or is away: kept in the outbox and retried
            log.warning("alert e-mail %s not sent (will retry): %s", mail["id"], exc)
            return f"{type(exc).__name__}: {exc}"
        log.info("alert e-mail %s sent to %s", mail["id"], ", ".join(mail["recipients"]))
        return None

    def tick_safely(self) -> None:
        """For the worker loop: alerting trouble is logged, never raised into syncing."""
        try:
            self.tick()
        except Exception:
            log.exception("alerting tick failed; syncing goes on")
