"""E-mail to a tenant's alert recipients when a sync fails: who, what failed, why, and where to
look. Sent with Flask-Mail through thsync.alerting, which groups repeats, says when a cause has
cleared and retries what SMTP refused; a failure to send is logged and never blocks syncing."""

import logging
import smtplib

from flask import current_app
from flask_mail import Connection, Mail

from thsync.alerts.desk import AlertDesk, failure_cause

log = logging.getLogger(__name__)


def person_name(job) -> str:
    decision = job.decision or {}
    payload = decision.get("payload") or {}
    extracted = decision.get("extracted") or {}
    first = payload.get("first_name") or extracted.get("first_name")
    last = payload.get("last_name") or extracted.get("last_name")
    name = " ".join(part for part in (first, last) if part)
    return f"{name} (EH id {job.employee_id})" if name else f"EH employee {job.employee_id}"


SMTP_TIMEOUT = 20.0  # seconds: a hanging mail server must not hold up the worker loop


class TimelyConnection(Connection):
    """Flask-Mail's connection with a socket timeout (Flask-Mail opens SMTP without one)."""

    def configure_host(self):
        mail, kind = self.mail, smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = kind(mail.server, mail.port, timeout=SMTP_TIMEOUT)
        host.set_debuglevel(int(mail.debug))
        if mail.use_tls:
            host.starttls()
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
        return host


class TimelyMail(Mail):
    def connect(self):
        app = getattr(self, "app", None) or current_app
        return TimelyConnection(app.extensions["mail"])


class Alerter:
    def __init__(self, app):
        self.app = app
        self.mail = TimelyMail(app)
        self.settings = app.config["THSYNC"]
        self.desk = AlertDesk(app, self.mail)

    def job_failed(self, job, reason: str) -> None:
        services = self.app.extensions["thsync"]
        tenant, _ = services.registry.get(job.tenant_id)
        if tenant is None or not tenant.alert_recipients:
            log.warning(
                "job %s failed and tenant %s has no alert recipients", job.id, job.tenant_id
            )
            return
        fresh = services.store.history.get(job.id) or job
        person = person_name(fresh)
        detail = {
            "subject": f"Tribal Habits sync failed for {person}",
            "template": "email/job_failed.txt",
            "person": person,
            "reason": reason,
            "job": fresh,
            "link": f"{self.settings['PUBLIC_URL']}/tenants/{tenant.id}/events/{job.id}",
        }
        self.desk.occurred(tenant, failure_cause(reason), detail)


def init_app(app) -> Alerter:
    for key in (
        "MAIL_SERVER",
        "MAIL_PORT",
        "MAIL_USE_TLS",
        "MAIL_USE_SSL",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
        "MAIL_DEFAULT_SENDER",
    ):
        app.config[key] = app.config["THSYNC"][key]
    alerter = Alerter(app)
    app.extensions["thsync"].alerter = alerter
    return alerter
