"""The integration server: `create_app(config)` for gunicorn, the CLI and tests; `python
server.py` for development (the server, the worker, both sandboxes and a connected demo tenant)."""

import logging
import secrets

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from thsync.alerts import mail as alerts
from thsync.cli import commands as cli
from thsync.config.settings import check_production, load_settings
from thsync.core.logs import configure_logging, redact
from thsync.pipeline import intake
from thsync.services import Services
from thsync.web import connect as oauth
from thsync.web import events, pages
from thsync.web import golive as dashboard
from thsync.web import reconciliations as reconcile_views
from thsync.web import signin as auth_views
from thsync.web import tenants as web

log = logging.getLogger("thsync.server")


def create_app(config: dict | None = None, *, clock=None, alerter=None) -> Flask:
    settings = load_settings(config)
    check_production(settings)
    configure_logging(settings["LOG_LEVEL"])
    app = Flask(__name__, template_folder="templates")
    app.config["THSYNC"] = settings
    app.config["SECRET_KEY"] = settings["SECRET_KEY"] or secrets.token_hex(32)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Secure wherever the site is served over HTTPS; development's http:// would lose the cookie.
    secure = settings["MODE"] == "production" or settings["PUBLIC_URL"].startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.extensions["thsync"] = Services(settings, clock=clock, alerter=alerter)
    # auth_views first: its guard runs before every other view (see thsync.auth)
    for module in (auth_views, pages, intake, oauth, web, dashboard, events, reconcile_views, cli):
        module.init_app(app)
    if alerter is None:
        alerts.init_app(app)
    return app


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request log, with webhook tokens and OAuth codes redacted."""

    def log(self, type, message, *args):  # noqa: A002 - Werkzeug's signature
        super().log(type, redact(message % args) if args else redact(message))


def serve(app, host: str, port: int):
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    log.info("serving on http://%s:%s", host, server.server_port)
    return server


def main() -> None:
    settings = load_settings()
    configure_logging(settings["LOG_LEVEL"])
    if settings["MODE"] == "development":
        from sandboxes.demo import start_demo

        start_demo(settings, create_app, serve)
        return
    app = create_app()
    log.warning("production: prefer gunicorn (see the README); serving with Werkzeug")
    serve(app, settings["HOST"], settings["PORT"]).serve_forever()


if __name__ == "__main__":
    main()
