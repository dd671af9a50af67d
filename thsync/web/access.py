"""Who sees what. Support signs in with an account from SUPPORT_USERS (hashed passwords) and sees
every tenant; a customer signs in with a single-use link support made and sees only their own
tenant, read-mostly.

Every request passes `guard` first, so a new route is protected without anyone remembering:
nothing but OPEN endpoints is served to a stranger; a customer reaches only URLs whose
`tenant_id` is theirs (404 otherwise, so other tenants' ids are not even confirmed), only with GET
unless the view says `customer_ok`, and never a `support_only` view. State-changing requests
carry the session's CSRF token.

The cookie holds only a random session id (and the CSRF token); the session itself is a row, so
signing out ends it on the server, whatever a copied cookie says.
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.security import check_password_hash

from thsync.web.pages import services

# Reachable without signing in: EH's webhook, the load balancer's probe, the ways in.
OPEN = {
    "intake.receive",
    "web.healthz",
    "auth.sign_in",
    "auth.link",
    "auth.sign_out",
    "static",
}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_EXEMPT = {"intake.receive"}  # EH cannot send a token; the URL's secret token guards it
FAILURE_WINDOW = 15 * 60
LINK_SALT = "thsync-customer-link"
# Checked when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = "pbkdf2:sha256:600000$x$" + "0" * 64

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Visitor:
    kind: str  # support | customer
    name: str
    tenant_id: str | None
    session_hash: str

    @property
    def is_support(self) -> bool:
        return self.kind == "support"

    def can_see(self, tenant_id: str | None) -> bool:
        return self.is_support or (tenant_id is not None and tenant_id == self.tenant_id)


def support_only(view: View) -> View:
    """Mark a view support's alone (actions, every-tenant pages)."""
    view.access = "support"  # type: ignore[attr-defined]  # a mark on the function, read by the guard
    return view


def customer_ok(view: View) -> View:
    """Mark a view a signed-in customer may use: without a tenant in its URL, or with POST."""
    view.access = "customer"  # type: ignore[attr-defined]  # a mark on the function, read by the guard
    return view


def visitor() -> Visitor | None:
    """Who is signed in, or None (a stranger, or an OPEN endpoint's request)."""
    visiting: Visitor | None = g.get("visitor")
    return visiting


def signed_in() -> Visitor:
    """Who is signed in, in a view the guard lets no stranger reach (anything but OPEN): the
    guard has already refused strangers, so None here means a view outside the guard; 401."""
    current = visitor()
    if current is None:
        abort(401)
    return current


# -- support accounts ----------------------------------------------------------------------


def parse_support_users(text: str) -> dict[str, str]:
    """`name:hash` entries, one a line (or comma-separated in an environment variable)."""
    users: dict[str, str] = {}
    for entry in text.replace(",", "\n").splitlines():
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        name, _, password_hash = entry.partition(":")
        if name and password_hash:
            users[name.strip()] = password_hash.strip()
    return users


def support_users(setting: str) -> dict[str, str]:
    """SUPPORT_USERS is a file's path, or the entries themselves."""
    if setting and "\n" not in setting and Path(setting).is_file():
        return parse_support_users(Path(setting).read_text())
    return parse_support_users(setting or "")


def password_ok(users: dict[str, str], name: str, password: str) -> bool:
    stored = users.get(name)
    matched = check_password_hash(stored or _DUMMY_HASH, password)
    return matched and stored is not None


# -- sessions ------------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    kind: str, name: str, tenant_id: str | None = None, link_id: str | None = None
) -> None:
    secret = secrets.token_urlsafe(32)
    lifetime = services().settings["SESSION_HOURS"] * 3600
    services().store.access.start_session(
        _hash(secret),
        kind=kind,
        subject=name,
        tenant_id=tenant_id,
        link_id=link_id,
        lifetime=lifetime,
    )
    session.clear()  # a fresh id and CSRF token: nothing from before sign-in carries over
    session["sid"] = secret
    session["csrf"] = secrets.token_urlsafe(32)


def load_visitor() -> Visitor | None:
    secret = session.get("sid")
    if not secret:
        return None
    row = services().store.access.live_session(_hash(secret))
    if row is None:
        return None
    return Visitor(row["kind"], row["subject"], row["tenant_id"], row["id_hash"])


def end_session() -> None:
    current = visitor()
    if current is not None:
        services().store.access.end_session(current.session_hash)
    session.clear()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    token: str = session["csrf"]
    return token


def csrf_ok() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


# -- customer links -------------------------------------------------------------------------


def link_serializer() -> URLSafeSerializer:
    key = current_app.secret_key  # create_app always sets one
    if key is None:
        raise RuntimeError("the app has no SECRET_KEY to sign links with")
    return URLSafeSerializer(key, salt=LINK_SALT)


def make_link(tenant_id: str, email: str, created_by: str) -> str:
    """A signed sign-in URL for one tenant; it expires, and works once (recorded in the store)."""
    link_id = secrets.token_urlsafe(24)
    lifetime = services().settings["SIGNIN_LINK_HOURS"] * 3600
    services().store.access.create_link(link_id, tenant_id, email, created_by, lifetime)
    token = link_serializer().dumps({"id": link_id, "tenant": tenant_id})
    return services().settings["PUBLIC_URL"] + url_for("auth.link", token=token)


def read_link(token: str) -> dict[str, Any] | None:
    """The link's row when the signature holds and it is unused and unexpired; else None."""
    try:
        data = link_serializer().loads(token)
    except BadSignature:
        return None
    row = services().store.access.get_link(data.get("id", ""))
    if row is None or row["tenant_id"] != data.get("tenant"):
        return None
    if row["used_at"] is not None or row["expires_at"] <= services().clock.now():
        return None
    return row


# -- the guard -------------------------------------------------------------------------------


def wants_json() -> bool:
    accepts = request.accept_mimetypes
    return request.path.endswith(".json") or (accepts.accept_json and not accepts.accept_html)


def refuse_stranger() -> ResponseReturnValue:
    if wants_json() or request.method not in SAFE_METHODS:
        return jsonify(error="sign in first"), 401
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


def customer_may(current: Visitor, endpoint: str) -> bool:
    """Support may do anything; for a customer, see this module's docstring."""
    view = current_app.view_functions.get(endpoint)
    access = getattr(view, "access", None)
    if access == "support":
        return False
    tenant_id = (request.view_args or {}).get("tenant_id")
    if tenant_id is not None and not current.can_see(tenant_id):
        abort(404)
    if request.method not in SAFE_METHODS or tenant_id is None:
        return access == "customer"
    return True


def guard() -> ResponseReturnValue | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in CSRF_EXEMPT:
        return None  # unknown URLs fall through to Flask's 404; EH's webhook has no session
    g.visitor = load_visitor()
    if endpoint not in OPEN:
        if g.visitor is None:
            return refuse_stranger()
        if not (g.visitor.is_support or customer_may(g.visitor, endpoint)):
            abort(403)
    if request.method not in SAFE_METHODS and endpoint not in CSRF_EXEMPT and not csrf_ok():
        abort(400, "the form has expired; reload the page and try again")
    return None
