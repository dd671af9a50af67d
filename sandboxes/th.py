"""The Tribal Habits sandbox: the Public API users resource as ../shared/contracts describes it.

Portals by raw API key, 25 users a page, unique user_name and e-mail (trimmed, case-blind),
user_name immutable, `X-` custom fields that must exist (list values must be existing items),
partial or replace updates, no DELETE, 300 calls a minute per portal and then a 60 s block
(validation in th_rules.py). Faults and a request log for tests; `/_admin` to seed and inspect.
"""

import copy
import math
import threading

from flask import Blueprint, Flask, jsonify, request

from sandboxes.common import (
    Faults,
    RequestLog,
    Window,
    add_common_admin,
    clock_of,
    drop_connection,
    error,
    extension,
    outcome,
    serve_fault,
)
from sandboxes.th_rules import key_text, stored, user_problem

EXTENSION = "th_sandbox"
PAGE = 25
FAULT_KINDS = ("500", "429", "422", "slow", "drop", "drop_after_write")
GATE_FAULTS = ("500", "429", "422", "slow", "drop")

api = Blueprint("th_api", __name__, url_prefix="/papi")
admin = Blueprint("th_admin", __name__, url_prefix="/_admin")


class Portal:
    """One customer's portal: its users (keyed by key_text(user_name)), their write history,
    invitations sent and its rate window. Guarded by the sandbox's state lock."""

    def __init__(self, key: str, spec: dict):
        self.key = key
        self.name = spec.get("name", key)
        self.update_mode = spec.get("update_mode", "partial")
        self.custom_fields = spec.get("custom_fields", {})
        self.users = {}
        self.history = {}  # user key -> [{time, method, body}]
        self.invites = []
        self.window = Window(60)
        self.blocked_until = 0.0

    def save(self, user: dict, method: str, body: dict, now: float) -> dict:
        key = key_text(user["user_name"])
        self.users[key] = user
        self.history.setdefault(key, []).append({"time": now, "method": method, "body": body})
        return copy.deepcopy(user)


class State:
    def __init__(self, config: dict):
        self.config = config
        self.clock = clock_of(config)
        self.lock = threading.RLock()
        self.faults = Faults(FAULT_KINDS)
        self.log = RequestLog(self.clock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            portals = self.config.get("portals", {})
            self.portals = {key: Portal(key, spec) for key, spec in portals.items()}
        self.faults.clear()
        self.log.clear()

    def portal_named(self, name: str) -> Portal | None:
        return next((p for p in self.portals.values() if p.name == name), None)

    def over_rate(self, portal: Portal) -> str | None:
        """Count one call, or say why the portal is refused (then the call is not counted)."""
        now = self.clock.now()
        block = self.config.get("block_seconds", 60)
        with self.lock:
            if portal.blocked_until > now:
                return "rate limit exceeded; portal blocked"
            if portal.window.count(now) >= self.config.get("rate_per_minute", 300):
                portal.blocked_until = now + block
                return f"rate limit exceeded; portal blocked for {block:g} s"
            portal.window.add(now)
        return None


def state() -> State:
    return extension(EXTENSION)


# -- the API ---------------------------------------------------------------------------------


@api.before_request
def gatekeeper():
    """The raw API key, injected faults, then the portal's rate limit; None lets it through."""
    st = state()
    found = st.portals.get(request.headers.get("Authorization", ""))
    request.environ["th.portal"] = found
    if found is None:
        return error(401, message="invalid API key")
    request.get_json(silent=True)  # read (and cached for the log) before any drop
    faulted = serve_fault(
        st.faults.take(request.path, request.method, GATE_FAULTS),
        lambda kind: error(int(kind), message=f"injected fault {kind}"),
    )
    if faulted:
        return faulted
    over = st.over_rate(found)
    return error(429, message=over) if over else None


@api.after_request
def record(response):
    found = request.environ.get("th.portal")
    state().log.add(
        method=request.method,
        path=request.full_path.rstrip("?"),
        portal=found.name if found else None,
        body=request.get_json(silent=True),
        **outcome(response.status_code),
    )
    return response


def portal() -> Portal:
    return request.environ["th.portal"]


def json_object():
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@api.get("/users")
def list_users():
    try:
        page = int(request.args.get("page", 1))
    except ValueError:
        return error(400, message="page must be a whole number")
    page = max(page, 1)
    with state().lock:
        users = [copy.deepcopy(u) for u in portal().users.values()]
    return jsonify(
        total_records=len(users),
        max_per_page=PAGE,
        current_page=page,
        total_pages=max(math.ceil(len(users) / PAGE), 1),
        records=users[(page - 1) * PAGE : page * PAGE],
    )


@api.get("/users/<path:user_name>")
def get_user(user_name):
    with state().lock:
        user = portal().users.get(key_text(user_name))
        if user is None:
            return error(404, message=f"user '{user_name}' not found")
        return jsonify(copy.deepcopy(user))


@api.post("/users")
def create_user():
    body = json_object()
    if body is None:
        return error(400, message="the body must be a JSON object")
    st, p = state(), portal()
    with st.lock:
        if key_text(body.get("user_name")) in p.users:
            return error(422, message=f"user_name '{body['user_name']}' is already used")
        problem = user_problem(p.custom_fields, p.users, body, None)
        if problem:
            return error(422, message=problem)
        user = p.save(stored(body), "POST", body, st.clock.now())
        if body.get("send_invite"):
            p.invites.append(user["user_name"])
    return after_write(user, 201)


@api.put("/users/<path:user_name>")
def update_user(user_name):
    body = json_object()
    if body is None:
        return error(400, message="the body must be a JSON object")
    st, p = state(), portal()
    with st.lock:
        current = p.users.get(key_text(user_name))
        if current is None:
            return error(404, message=f"user '{user_name}' not found")
        if "user_name" in body and str(body["user_name"]).strip() != current["user_name"]:
            return error(422, message="user_name cannot be changed")
        if p.update_mode == "partial":
            merged = {**current, **body}
        else:  # replace: the body is the whole user, so anything left out is gone
            merged = {"user_name": current["user_name"], **body}
        problem = user_problem(p.custom_fields, p.users, merged, key_text(user_name))
        if problem:
            return error(422, message=problem)
        user = p.save(stored(merged), "PUT", body, st.clock.now())
    return after_write(user, 200)


@api.delete("/users/<path:user_name>")
def delete_user(user_name):
    return error(405, message="users cannot be deleted; set active to false")


def after_write(user: dict, status: int):
    """Answer a write, unless a drop_after_write fault says to lose the answer (the write is
    kept: the client must look up before retrying)."""
    if state().faults.take(request.path, request.method, ("drop_after_write",)):
        drop_connection()
    return jsonify(user), status


# -- admin ----------------------------------------------------------------------------------


@admin.get("/users")
def admin_users():
    """Every user of one portal (or all), as a plain list; `history=1` adds each user's
    successful writes under `_writes`."""
    st = state()
    name = request.args.get("portal")
    with_history = request.args.get("history") in ("1", "true")
    with st.lock:
        portals = [st.portal_named(name)] if name else list(st.portals.values())
        if None in portals:
            return error(404, message=f"no portal {name}")
        users = [
            {**u, "_writes": p.history.get(k, [])} if with_history else u
            for p in portals
            for k, u in p.users.items()
        ]
        return jsonify(copy.deepcopy(users))


@admin.get("/invites")
def admin_invites():
    """The user_names invited (created with send_invite: true), in order."""
    st = state()
    with st.lock:
        return jsonify([i for p in st.portals.values() for i in p.invites])


@admin.post("/users")
def seed_user():
    body = request.get_json(silent=True) or {}
    user = body.get("user")
    if not isinstance(user, dict) or not str(user.get("user_name") or "").strip():
        return error(400, message="send {portal, user} with the user's user_name")
    st = state()
    with st.lock:
        p = st.portal_named(body.get("portal"))
        if p is None:
            return error(404, message=f"no portal {body.get('portal')}")
        saved = p.save(stored(user), "SEED", user, st.clock.now())
    return jsonify(saved), 201


add_common_admin(admin, state)


def create_app(config: dict | None = None) -> Flask:
    """config: portals {api_key: {name, update_mode, custom_fields}}, rate_per_minute (300),
    block_seconds (60), clock."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = State(dict(config or {}))
    app.register_blueprint(api)
    app.register_blueprint(admin)
    return app
