"""E-mail to a tenant's alert recipients when a sync fails: who, what failed, why, and where to
look. Sent with Flask-Mail; a failure to send is logged and never blocks syncing."""

import logging

from flask import render_template
from flask_mail import Mail, Message

log = logging.getLogger(__name__)


def person_name(job) -> str:
    decision = job.decision or {}
    payload = decision.get("payload") or {}
    extracted = decision.get("extracted") or {}
    first = payload.get("first_name") or extracted.get("first_name")
    last = payload.get("last_name") or extracted.get("last_name")
    name = " ".join(part for part in (first, last) if part)
    return f"{name} (EH id {job.employee_id})" if name else f"EH employee {job.employee_id}"


class Alerter:
    def __init__(self, app):
        self.app = app
        self.mail = Mail(app)
        self.settings = app.config["THSYNC"]

    def job_failed(self, job, reason: str) -> None:
        services = self.app.extensions["thsync"]
        tenant, _ = services.registry.get(job.tenant_id)
        if tenant is None or not tenant.alert_recipients:
            log.warning(
                "job %s failed and tenant %s has no alert recipients", job.id, job.tenant_id
            )
            return
        fresh = services.store.get_job(job.id) or job
        link = f"{self.settings['PUBLIC_URL']}/tenants/{tenant.id}/jobs/{job.id}"
        person = person_name(fresh)
        with self.app.app_context():
            body = render_template(
                "email/job_failed.txt",
                tenant=tenant,
                person=person,
                reason=reason,
                link=link,
                job=fresh,
            )
            message = Message(
                subject=f"[{tenant.name}] Tribal Habits sync failed for {person}",
                recipients=tenant.alert_recipients,
                body=body,
            )
            if not self.settings.get("MAIL_SERVER"):
                log.warning("no MAIL_SERVER set; alert not sent:\n%s", body)
                return
            self.mail.send(message)
        log.info("job %s: failure alert sent to %s", job.id, ", ".join(tenant.alert_recipients))


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
