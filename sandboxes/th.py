"""The Tribal Habits sandbox: the Public API users resource as ../shared/contracts describes it.

Portals by raw API key, 25 users a page, unique user_name and e-mail (trimmed, case-blind),
user_name immutable, `X-` custom fields that must exist (list values must be existing items),
partial or replace updates, no DELETE, 300 calls a minute per portal and then a 60 s block.
Faults and a request log for tests; `/_admin` to seed and inspect.
"""

import copy
import math
import re
import threading
import time
from datetime import datetime

from flask import Blueprint, Flask, current_app, jsonify, request

from sandboxes.common import (
    Faults,
    RequestLog,
    Window,
    add_common_admin,
    clock_of,
    drop_connection,
    error,
)

PAGE = 25
REQUIRED = ("user_name", "first_name", "last_name", "email")
KNOWN = ("user_name", "first_name", "last_name", "email", "manager_email", "active", "send_invite")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

api = Blueprint("th_api", __name__, url_prefix="/papi")
admin = Blueprint("th_admin", __name__, url_prefix="/_admin")


class Portal:
    def __init__(self, key: str, spec: dict, rate: int, clock):
        self.key = key
        self.name = spec.get("name", key)
        self.update_mode = spec.get("update_mode", "partial")
        self.custom_fields = spec.get("custom_fields", {})
        self.users = {}  # user_name lower-cased -> user
        self.invites = []
        self.window = Window(60)
        self.rate = rate
        self.blocked_until = 0.0


class State:
    def __init__(self, config: dict):
        self.config = config
        self.clock = clock_of(config)
        self.lock = threading.RLock()
        self.faults = Faults()
        self.log = RequestLog(self.clock)
        self.reset()

    def reset(self) -> None:
        rate = self.config.get("rate_per_minute", 300)
        self.portals = {
            key: Portal(key, spec, rate, self.clock)
            for key, spec in self.config.get("portals", {}).items()
        }
        self.faults.clear()
        self.log.clear()

    def portal_named(self, name: str) -> Portal | None:
        return next((p for p in self.portals.values() if p.name == name), None)


def state() -> State:
    return current_app.extensions["th_sandbox"]


def key_text(value) -> str:
    return str(value or "").strip().lower()


# -- validation ----------------------------------------------------------------------------


def valid_date(text: str) -> bool:
    for form in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            datetime.strptime(text, form)
            return True
        except ValueError:
            continue
    return False


def custom_field_problem(portal: Portal, key: str, value) -> str | None:
    name = key[2:]
    spec = portal.custom_fields.get(name)
    if spec is None:
        return f"custom field '{name}' does not exist in this portal"
    if value in (None, ""):
        return None
    kind = spec.get("type", "text")
    if kind == "list":
        items = [item.strip() for item in str(value).split(";")]
        missing = [item for item in items if item not in spec.get("items", [])]
        if missing:
            return f"'{missing[0]}' is not an item of the list field '{name}'"
    if kind == "date" and not valid_date(str(value)):
        return f"custom field '{name}' needs a date as dd/mm/yyyy or yyyy-mm-dd"
    if kind == "number" and not isinstance(value, int | float):
        try:
            float(str(value))
        except ValueError:
            return f"custom field '{name}' needs a number"
    return None


def user_problem(portal: Portal, user: dict, ignore: str | None) -> str | None:
    for key in REQUIRED:
        if not str(user.get(key) or "").strip():
            return f"{key} is required"
    for key in user:
        if key.startswith("X-"):
            problem = custom_field_problem(portal, key, user[key])
            if problem:
                return problem
        elif key not in KNOWN:
            return f"unknown field '{key}'"
    for key in ("email", "manager_email"):
        value = user.get(key)
        if value not in (None, "") and not EMAIL.match(str(value).strip()):
            return f"{key} '{value}' is not a valid e-mail address"
    email = key_text(user["email"])
    for name, other in portal.users.items():
        if name != ignore and key_text(other.get("email")) == email:
            return f"email '{email}' is already used by another user"
    if "active" in user and not isinstance(user["active"], bool):
        return "active must be true or false"
    return None


def stored(user: dict) -> dict:
    clean = {k: v for k, v in user.items() if k != "send_invite"}
    clean["user_name"] = str(clean["user_name"]).strip()
    for key in ("email", "manager_email"):
        if isinstance(clean.get(key), str):
            clean[key] = clean[key].strip()
    clean.setdefault("active", True)
    return clean


# -- the API ---------------------------------------------------------------------------------


@api.before_request
def gatekeeper():
    """Key, injected faults, then the portal's rate limit; None lets the request through."""
    st = state()
    portal = st.portals.get(request.headers.get("Authorization", ""))
    request.environ["th.portal"] = portal
    fault = st.faults.take(request.path, request.method, ("500", "429", "slow", "422"))
    if fault and fault["kind"] == "slow":
        time.sleep(fault["delay"])
        fault = None
    if portal is None:
        return error(401, message="invalid API key")
    if fault:
        return error(int(fault["kind"]), message=f"injected fault {fault['kind']}")
    return limit(portal, st.clock.now())


def limit(portal: Portal, now: float):
    with state().lock:
        if portal.blocked_until > now:
            return error(429, message="rate limit exceeded; portal blocked")
        if portal.window.count(now) >= portal.rate:
            portal.blocked_until = now + state().config.get("block_seconds", 60)
            return error(429, message="rate limit exceeded; portal blocked for 60 s")
        portal.window.add(now)
    return None


@api.after_request
def record(response):
    if not request.environ.get("th.logged"):
        portal = request.environ.get("th.portal")
        state().log.add(
            method=request.method,
            path=logged_path(),
            status=response.status_code,
            portal=portal.name if portal else None,
            body=request.get_json(silent=True),
        )
    return response


def logged_path() -> str:
    return request.full_path.rstrip("?")


def portal() -> Portal:
    return request.environ["th.portal"]


@api.get("/users")
def list_users():
    page = max(int(request.args.get("page", 1) or 1), 1)
    with state().lock:
        users = [copy.deepcopy(u) for u in portal().users.values()]
    pages = max(math.ceil(len(users) / PAGE), 1)
    records = users[(page - 1) * PAGE : page * PAGE]
    return jsonify(
        total_records=len(users),
        max_per_page=PAGE,
        current_page=page,
        total_pages=pages,
        records=records,
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
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, message="the body must be a JSON object")
    p = portal()
    with state().lock:
        if key_text(body.get("user_name")) in p.users:
            return error(422, message=f"user_name '{body['user_name']}' is already used")
        problem = user_problem(p, body, None)
        if problem:
            return error(422, message=problem)
        user = stored(body)
        p.users[key_text(user["user_name"])] = user
        if body.get("send_invite"):
            p.invites.append(user["user_name"])
        answer = copy.deepcopy(user)
    return after_write(answer, 201)


@api.put("/users/<path:user_name>")
def update_user(user_name):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, message="the body must be a JSON object")
    p = portal()
    with state().lock:
        current = p.users.get(key_text(user_name))
        if current is None:
            return error(404, message=f"user '{user_name}' not found")
        if "user_name" in body and str(body["user_name"]).strip() != current["user_name"]:
            return error(422, message="user_name cannot be changed")
        merged = (
            {**current, **body}
            if p.update_mode == "partial"
            else {"user_name": current["user_name"], **body}
        )
        problem = user_problem(p, merged, key_text(user_name))
        if problem:
            return error(422, message=problem)
        user = stored(merged)
        p.users[key_text(user_name)] = user
        answer = copy.deepcopy(user)
    return after_write(answer, 200)


@api.delete("/users/<path:user_name>")
def delete_user(user_name):
    return error(405, message="users cannot be deleted; set active to false")


def after_write(user: dict, status: int):
    if state().faults.take(request.path, request.method, ("drop_after_write",)):
        state().log.add(
            method=request.method,
            path=logged_path(),
            status=None,
            portal=portal().name,
            body=request.get_json(silent=True),
            dropped=True,
        )
        request.environ["th.logged"] = True
        drop_connection()
    return jsonify(user), status


# -- admin ----------------------------------------------------------------------------------


@admin.get("/users")
def admin_users():
    st = state()
    name = request.args.get("portal")
    with st.lock:
        portals = [st.portal_named(name)] if name else list(st.portals.values())
        if None in portals:
            return error(404, message=f"no portal {name}")
        users = [copy.deepcopy(u) for p in portals for u in p.users.values()]
    return jsonify(users)


@admin.get("/invites")
def admin_invites():
    st = state()
    with st.lock:
        return jsonify([i for p in st.portals.values() for i in p.invites])


@admin.post("/users")
def seed_user():
    body = request.get_json(force=True)
    st = state()
    with st.lock:
        p = st.portal_named(body["portal"])
        if p is None:
            return error(404, message=f"no portal {body['portal']}")
        user = stored(body["user"])
        p.users[key_text(user["user_name"])] = user
    return jsonify(user), 201


add_common_admin(admin, state)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.extensions["th_sandbox"] = State(dict(config or {}))
    app.register_blueprint(api)
    app.register_blueprint(admin)
    return app
