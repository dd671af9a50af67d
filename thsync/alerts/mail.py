"""SMTP for the alert desk: Flask-Mail with a socket timeout, configured from the settings."""

import logging
import smtplib
from typing import Any

from flask import Flask, current_app
from flask_mail import Connection, Mail

log = logging.getLogger(__name__)


SMTP_TIMEOUT = 20.0  # seconds: a hanging mail server must not hold up the worker loop


class TimelyConnection(Connection):
    """Flask-Mail's connection with a socket timeout (Flask-Mail opens SMTP without one)."""

    def configure_host(self) -> smtplib.SMTP:
        mail, kind = self.mail, smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = kind(mail.server, mail.port, timeout=SMTP_TIMEOUT)
        host.set_debuglevel(int(mail.debug))
        if mail.use_tls:
            host.starttls()
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
        return host


class TimelyMail(Mail):
    def connect(self) -> TimelyConnection:
        app = getattr(self, "app", None) or current_app
        return TimelyConnection(app.extensions["mail"])


MAIL_SETTINGS = (
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
)


def configure_mail(app: Flask, settings: dict[str, Any]) -> TimelyMail:
    """Flask-Mail reads app.config once, here; the server's settings are where they come from."""
    for key in MAIL_SETTINGS:
        app.config[key] = settings[key]
    return TimelyMail(app)
