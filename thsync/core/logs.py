"""Logging set-up. Webhook tokens and OAuth codes never reach a log line: a filter on every
handler rewrites them, whichever library (Werkzeug, gunicorn, ours) wrote the line."""

import logging
import re

PATTERNS = (
    (re.compile(r"(/webhooks/[^/\s]+/)[^\s/?\"']+"), r"\1[redacted]"),
    (
        re.compile(r"((?:code|state|access_token|refresh_token|code_verifier)=)[^&\s\"']+"),
        r"\1[redacted]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactFilter) for f in handler.filters):
        handler.addFilter(RedactFilter())


# Libraries that tell of routine work at INFO: every scheduled chore (APScheduler, twice a
# second in a worker) and every migration check (Alembic, at every start and CLI command).
CHATTY = ("apscheduler", "alembic")


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    for library in CHATTY:
        logging.getLogger(library).setLevel(max(logging.WARNING, root.level))
    for name in (None, "gunicorn.error", "gunicorn.access", "werkzeug"):
        for handler in logging.getLogger(name).handlers:
            install_filter(handler)
