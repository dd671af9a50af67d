"""What the HR source calls (Employment Hero, or another tenant's source): POST
/webhooks/<tenant>/<token>. The tenant's source reads the event from the body.

A valid delivery is stored (raw body, headers, time) before the 2xx, deduplicated, and answered
without any outbound call. EH's webhook form has no signing secret, so authenticity rests on the
unguessable per-tenant token in the URL: compared in constant time, never logged, and an unknown
tenant and a wrong token get the same 404.
"""

import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Request, Response, current_app, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from thsync.config.tenants import Tenant
from thsync.rules.ruleset import RuleSet
from thsync.sources.base import HRSource
from thsync.store.database import StoreUnavailable

if TYPE_CHECKING:  # the app holds it; the pipeline imports nothing above itself
    from thsync.services import Services

log = logging.getLogger(__name__)
bp = Blueprint("intake", __name__)

# Headers worth keeping (name, WSGI environ key); anything else (cookies, auth) is not stored.
KEPT_HEADERS = tuple(
    (
        name,
        "HTTP_" + name.upper().replace("-", "_")
        if name[:8] != "Content-"
        else name.upper().replace("-", "_"),
    )
    for name in ("Content-Type", "Content-Length", "User-Agent", "X-Request-Id", "X-Forwarded-For")
)
BODY_KEEP_ON_REJECT = 65536
_DUMMY_TOKEN = "x" * 48


def services() -> "Services":
    return current_app.extensions["thsync"]


def kept_headers() -> dict[str, str]:
    environ = request.environ  # read directly: Werkzeug's Headers view scans on every lookup
    return {name: environ[key] for name, key in KEPT_HEADERS if key in environ}


def token_matches(tenant: Tenant | None, token: str) -> bool:
    expected = tenant.webhook_token if tenant else _DUMMY_TOKEN
    ok = hmac.compare_digest(token.encode(), expected.encode())
    return ok and tenant is not None


def read_body(limit: int) -> bytes:
    """At most limit+1 bytes, so an oversized body is detected without reading it all."""
    return request.stream.read(limit + 1)


def refuse(tenant_id: str, status: int, error: str, raw: bytes, size: int) -> tuple[Response, int]:
    text = raw[:BODY_KEEP_ON_REJECT].decode("utf-8", "replace")
    try:
        delivery_id = services().store.deliveries.record_rejected(
            tenant_id,
            http_status=status,
            headers=kept_headers(),
            body=text,
            body_size=size,
            error=error,
        )
    except StoreUnavailable:
        log.error("tenant %s: could not record a refused delivery (%s)", tenant_id, error)
        return jsonify(error="the server cannot store deliveries right now"), 503
    log.warning("tenant %s: delivery %s refused (%s): %s", tenant_id, delivery_id, status, error)
    return jsonify(error=error, delivery_id=delivery_id), status


def parse(raw: bytes) -> tuple[dict[str, Any], None] | tuple[None, str]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"the body is not JSON ({exc})"
    if not isinstance(body, dict):
        return None, "the body must be a JSON object"
    return body, None


def delivery_meta(
    source: HRSource, ruleset: RuleSet, body: dict[str, Any], raw: bytes
) -> dict[str, Any]:
    meta = source.read_event(ruleset, body)
    event_id = meta.get("event_id")
    meta["event_id"] = str(event_id) if event_id not in (None, "") else None
    digest = hashlib.sha256(raw).hexdigest()
    meta["dedup_key"] = f"id:{meta['event_id']}" if meta["event_id"] else f"sha256:{digest}"
    employee_id = meta.get("employee_id")
    meta["employee_id"] = str(employee_id) if employee_id not in (None, "") else None
    return meta


@bp.post("/webhooks/<tenant_id>/<token>")
def receive(tenant_id: str, token: str) -> tuple[Response, int] | Response:
    tenant, ruleset = services().registry.get(tenant_id)
    matches = token_matches(tenant, token)  # compared even for an unknown tenant
    if not matches or tenant is None or ruleset is None:  # no match without a tenant
        return jsonify(error="not found"), 404
    limit = services().settings["MAX_BODY_BYTES"]
    raw = read_body(limit)
    if len(raw) > limit:
        size = max(request.content_length or 0, len(raw))
        return refuse(tenant_id, 413, f"the body is larger than {limit} bytes", raw, size)
    body, problem = parse(raw)
    if body is None:
        return refuse(tenant_id, 400, str(problem), raw, len(raw))
    source = services().source_for(tenant)  # opening one is cheap: no client until a call
    meta = delivery_meta(source, ruleset, body, raw)
    if not meta["employee_id"]:
        where = source.event_field(ruleset, "employee_id")
        return refuse(tenant_id, 422, f"no employee id at {where}", raw, len(raw))
    return accept(tenant_id, body, raw, meta)


def accept(
    tenant_id: str, body: dict[str, Any], raw: bytes, meta: dict[str, Any]
) -> tuple[Response, int] | Response:
    try:
        accepted = services().store.deliveries.accept(
            tenant_id, headers=kept_headers(), body=raw.decode("utf-8"), meta=meta
        )
    except StoreUnavailable as exc:
        log.error("tenant %s: delivery not stored, answered 503: %s", tenant_id, exc)
        return jsonify(error="the server cannot store deliveries right now; retry later"), 503
    status = "duplicate" if accepted.duplicate else "accepted"
    log.info(
        "tenant %s: delivery %s %s (%s for %s)",
        tenant_id,
        accepted.delivery_id,
        status,
        meta.get("event_type"),
        meta["employee_id"],
    )
    code = 200 if accepted.duplicate else 202
    answer = json.dumps({"status": status, "delivery_id": accepted.delivery_id})
    return current_app.response_class(answer, status=code, mimetype="application/json")


class NoSessionForWebhooks(SecureCookieSessionInterface):
    """EH's deliveries carry no cookies and need none: skip the session (signing it costs a
    fifth of a delivery's time) and never set a cookie on a webhook answer."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/webhooks/"):
            return self.null_session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = NoSessionForWebhooks()
