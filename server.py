"""The integration server: `create_app(config)` for gunicorn, the CLI and tests; `python
server.py` for development (the server, the worker, both sandboxes and a connected demo tenant,
through thsync.devserver)."""

import logging
import secrets
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from thsync.cli import commands
from thsync.config.settings import check_production, load_settings
from thsync.core.clock import Clock
from thsync.core.logs import configure_logging, redact
from thsync.pipeline import intake
from thsync.services import Services
from thsync.web import connect, events, golive, pages, reconciliations, signin, tenants

log = logging.getLogger("thsync.server")


def create_app(config: dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    settings = load_settings(config)
    check_production(settings)
    configure_logging(settings["LOG_LEVEL"])
    app = Flask(__name__, template_folder="templates")
    app.config["SECRET_KEY"] = settings["SECRET_KEY"] or secrets.token_hex(32)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Secure wherever the site is served over HTTPS; development's http:// would lose the cookie.
    secure = settings["MODE"] == "production" or settings["PUBLIC_URL"].startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.extensions["thsync"] = Services(settings, app, clock=clock)
    # signin first: its guard runs before every other view (see thsync.web.access)
    parts = (signin, pages, intake, connect, tenants, golive, events, reconciliations, commands)
    for module in parts:
        module.init_app(app)
    return app


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request log, with webhook tokens and OAuth codes redacted."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - Werkzeug's signature
        super().log(type, redact(message % args) if args else redact(message))


def serve(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded Werkzeug server for the app; the worker thread starts with it (RUN_WORKER)."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    app.extensions["thsync"].start_worker()
    log.info("serving on http://%s:%s", host, server.server_port)
    return server


def main() -> None:
    settings = load_settings()
    configure_logging(settings["LOG_LEVEL"])
    if settings["MODE"] == "development":
        from thsync.devserver import start_demo  # development only: it imports the sandboxes

        start_demo(settings, create_app, serve)
        return
    app = create_app()
    log.warning("production: prefer gunicorn (see the README); serving with Werkzeug")
    serve(app, settings["HOST"], settings["PORT"]).serve_forever()


if __name__ == "__main__":
    main()
