"""The Employment Hero sandbox: OAuth 2.0 with PKCE and the REST API as ../shared/contracts
describes them, plus webhooks fired the way EH would send them.

Authorization-code grant only, S256 PKCE required, no `scope` parameter, form-encoded token
requests, 15-minute access tokens, rotating refresh tokens, `page_index`/`item_per_page` (max
100) pagination, 20 calls a second and 100 a minute per token. Faults, a request log and
`/_admin` to seed people, change them and fire webhooks.
"""

import base64
import copy
import hashlib
import math
import secrets
import threading
import time
import uuid
from urllib.parse import urlencode

import requests
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template_string, request

from sandboxes.common import (
    Faults,
    RequestLog,
    Window,
    add_common_admin,
    clock_of,
    drop_connection,
    error,
)

oauth = Blueprint("eh_oauth", __name__, url_prefix="/oauth2")
api = Blueprint("eh_api", __name__, url_prefix="/api/v1")
admin = Blueprint("eh_admin", __name__, url_prefix="/_admin")

CONSENT = """<!doctype html><title>Employment Hero · Authorise</title>
<h1>Authorise {{ client_id }}</h1>
<p>Signed in as {{ user.name }} &lt;{{ user.email }}&gt;. The application will act as you.</p>
<form method="post">
{% for k, v in params.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<button name="approve" value="1">Authorise</button>
<button name="approve" value="0">Deny</button>
</form>"""


class State:
    def __init__(self, config: dict):
        self.config = config
        self.clock = clock_of(config)
        self.lock = threading.RLock()
        self.faults = Faults()
        self.log = RequestLog(self.clock)
        self.reset()

    def reset(self) -> None:
        self.employees = {}
        self.custom_fields = {}
        self.codes = {}
        self.access = {}  # token -> expires_at
        self.refresh = set()
        self.webhooks = {}  # organisation id -> url
        self.minute, self.second = {}, {}
        self.faults.clear()
        self.log.clear()

    @property
    def organisations(self) -> list:
        return self.config.get("organisations") or [{"id": str(uuid.uuid4()), "name": "Sandbox"}]

    def default_org(self) -> str:
        return self.organisations[0]["id"]


def state() -> State:
    return current_app.extensions["eh_sandbox"]


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- OAuth ----------------------------------------------------------------------------------


def authorize_problem(params) -> str | None:
    config = state().config
    if "scope" in params:
        return "scope is not accepted: scopes are fixed on the API application"
    if params.get("response_type") != "code":
        return "response_type must be code"
    if params.get("client_id") != config.get("client_id"):
        return "unknown client_id"
    allowed = config.get("redirect_uris") or []
    uri = params.get("redirect_uri", "")
    if (allowed and uri not in allowed) or not uri.startswith(("http://", "https://")):
        return "redirect_uri is not registered for this application"
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        return "PKCE is required: code_challenge with code_challenge_method S256"
    return None


@oauth.get("/authorize")
def authorize_page():
    problem = authorize_problem(request.args)
    if problem:
        return error(400, error="invalid_request", error_description=problem)
    params = {k: v for k, v in request.args.items()}
    return render_template_string(
        CONSENT, client_id=params["client_id"], params=params, user=state().config.get("user", {})
    )


@oauth.post("/authorize")
def authorize_decision():
    params = {k: v for k, v in request.form.items() if k != "approve"}
    problem = authorize_problem(params)
    if problem:
        return error(400, error="invalid_request", error_description=problem)
    target = params["redirect_uri"]
    if request.form.get("approve") != "1":
        query = {"error": "access_denied", "state": params.get("state", "")}
        return redirect(f"{target}?{urlencode(query)}")
    code = secrets.token_urlsafe(24)
    st = state()
    with st.lock:
        st.codes[code] = {**params, "expires_at": st.clock.now() + 600}
    return redirect(f"{target}?{urlencode({'code': code, 'state': params.get('state', '')})}")


def issue_tokens(st: State) -> dict:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ttl = st.config.get("access_token_ttl", 900)
    st.access[access] = st.clock.now() + ttl
    st.refresh.add(refresh)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": ttl,
    }


def grant_error(code: str, description: str, status: int = 400):
    return error(status, error=code, error_description=description)


@oauth.post("/token")
def token():
    st = state()
    fault = st.faults.take(request.path, "POST", ("500", "invalid_grant", "slow", "drop"))
    answer = token_answer(st, fault)
    st.log.add(
        method="POST",
        path=request.path,
        status=answer[1],
        token_kind=request.form.get("grant_type"),
    )
    return answer


def token_answer(st: State, fault):
    if fault and fault["kind"] == "slow":
        time.sleep(fault["delay"])
    if fault and fault["kind"] == "drop":
        drop_connection()
        return jsonify(), 500
    if fault and fault["kind"] == "500":
        return grant_error("server_error", "injected fault", 500)
    if request.args or request.is_json or not request.form:
        return grant_error("invalid_request", "send the parameters form-encoded in the body")
    form = request.form
    config = st.config
    if form.get("client_id") != config.get("client_id") or form.get("client_secret") != config.get(
        "client_secret"
    ):
        return grant_error("invalid_client", "client authentication failed", 401)
    if fault and fault["kind"] == "invalid_grant":
        return grant_error("invalid_grant", "the grant was revoked (injected)")
    if form.get("grant_type") == "authorization_code":
        return exchange(st, form)
    if form.get("grant_type") == "refresh_token":
        return rotate(st, form)
    return grant_error("unsupported_grant_type", "authorization_code or refresh_token only")


def exchange(st: State, form):
    with st.lock:
        saved = st.codes.pop(form.get("code", ""), None)
        if saved is None or saved["expires_at"] < st.clock.now():
            return grant_error("invalid_grant", "the code is unknown, used or expired")
        if saved["redirect_uri"] != form.get("redirect_uri"):
            return grant_error("invalid_grant", "redirect_uri does not match")
        if challenge_of(form.get("code_verifier", "")) != saved["code_challenge"]:
            return grant_error("invalid_grant", "the code_verifier does not match")
        return jsonify(issue_tokens(st)), 200


def rotate(st: State, form):
    with st.lock:
        old = form.get("refresh_token", "")
        if old not in st.refresh:
            return grant_error("invalid_grant", "the refresh token is not valid")
        st.refresh.discard(old)  # rotation: the old refresh token dies with its use
        return jsonify(issue_tokens(st)), 200


# -- the API ---------------------------------------------------------------------------------


@api.before_request
def gatekeeper():
    st = state()
    fault = st.faults.take(request.path, request.method, ("500", "429", "401", "slow", "drop"))
    if fault and fault["kind"] == "slow":
        time.sleep(fault["delay"])
        fault = None
    if fault and fault["kind"] == "drop":
        drop_connection()
        return error(500, message="dropped")
    if fault:
        return error(int(fault["kind"]), error=f"injected fault {fault['kind']}")
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    now = st.clock.now()
    with st.lock:
        expires = st.access.get(token)
        if expires is None or expires <= now:
            return error(401, error="invalid_token", error_description="expired or unknown")
        return rate_limit(st, token, now)


def rate_limit(st: State, token: str, now: float):
    per_second = st.second.setdefault(token, Window(1))
    per_minute = st.minute.setdefault(token, Window(60))
    if per_second.count(now) >= st.config.get("rate_per_second", 20):
        return error(429, error="rate_limited", error_description="20 requests per second")
    if per_minute.count(now) >= st.config.get("rate_per_minute", 100):
        return error(429, error="rate_limited", error_description="100 requests per minute")
    per_second.add(now)
    per_minute.add(now)
    return None


@api.after_request
def record(response):
    state().log.add(
        method=request.method, path=request.path, status=response.status_code, token_kind="bearer"
    )
    return response


def page_of(items: list):
    try:
        index = max(int(request.args.get("page_index", 1)), 1)
        size = min(max(int(request.args.get("item_per_page", 20)), 1), 100)
    except ValueError:
        return error(400, error="page_index and item_per_page must be numbers")
    pages = max(math.ceil(len(items) / size), 1)
    chunk = items[(index - 1) * size : index * size]
    return jsonify(
        data={
            "items": chunk,
            "page_index": index,
            "item_per_page": size,
            "total_items": len(items),
            "total_pages": pages,
        }
    )


def known_org(org: str) -> bool:
    return any(o["id"] == org for o in state().organisations)


def org_employees(org: str) -> list:
    with state().lock:
        people = [e for e in state().employees.values() if e.get("organisation_id") == org]
        return [copy.deepcopy(e) for e in sorted(people, key=lambda e: e["id"])]


@api.get("/user_info")
def user_info():
    return jsonify(data=state().config.get("user", {}))


@api.get("/organisations")
def organisations():
    return page_of(
        [
            {k: o.get(k) for k in ("id", "name", "phone", "country", "logo_url")}
            for o in state().organisations
        ]
    )


@api.get("/organisations/<org>")
def organisation(org):
    for found in state().organisations:
        if found["id"] == org:
            return jsonify(data={**found, "active_employees_count": len(org_employees(org))})
    return error(404, error="not_found")


@api.get("/organisations/<org>/employees")
def employees(org):
    if not known_org(org):
        return error(404, error="not_found")
    return page_of(org_employees(org))


@api.get("/organisations/<org>/employees/<employee_id>")
def employee(org, employee_id):
    with state().lock:
        found = state().employees.get(employee_id)
        if found is None or found.get("organisation_id") != org:
            return error(404, error="not_found")
        return jsonify(data=copy.deepcopy(found))


@api.get("/organisations/<org>/employees/<employee_id>/custom_fields")
def custom_fields(org, employee_id):
    if state().employees.get(employee_id, {}).get("organisation_id") != org:
        return error(404, error="not_found")
    return page_of(copy.deepcopy(state().custom_fields.get(employee_id, [])))


@api.get("/organisations/<org>/employees/<employee_id>/employment_histories")
def employment_histories(org, employee_id):
    if state().employees.get(employee_id, {}).get("organisation_id") != org:
        return error(404, error="not_found")
    return page_of([])


@api.get("/organisations/<org>/teams")
def teams(org):
    found = {}
    for person in org_employees(org):
        for team in person.get("teams") or []:
            found[team["id"]] = {"id": team["id"], "name": team["name"]}
    return page_of(sorted(found.values(), key=lambda t: t["id"]))


@api.get("/organisations/<org>/teams/<team_id>/employees")
def team_employees(org, team_id):
    people = [
        p for p in org_employees(org) if any(t.get("id") == team_id for t in p.get("teams") or [])
    ]
    return page_of(people)


# -- admin ----------------------------------------------------------------------------------


@admin.post("/employees")
def seed_employees():
    body = request.get_json(force=True)
    people = body if isinstance(body, list) else [body]
    st = state()
    with st.lock:
        for person in people:
            person = dict(person.get("data", person))
            person.setdefault("organisation_id", st.default_org())
            st.employees[person["id"]] = person
    return jsonify(count=len(people)), 201


@admin.get("/employees/<employee_id>")
def show_employee(employee_id):
    found = state().employees.get(employee_id)
    return jsonify(found) if found else error(404, error="not_found")


@admin.patch("/employees/<employee_id>")
def change_employee(employee_id):
    st = state()
    with st.lock:
        found = st.employees.get(employee_id)
        if found is None:
            return error(404, error="not_found")
        found.update(request.get_json(force=True))
        return jsonify(copy.deepcopy(found))


@admin.post("/custom_fields/<employee_id>")
def seed_custom_fields(employee_id):
    body = request.get_json(force=True)
    state().custom_fields[employee_id] = (
        body.get("data", {}).get("items", body) if isinstance(body, dict) else body
    )
    return jsonify(ok=True), 201


@admin.post("/webhooks")
def register_webhook():
    body = request.get_json(force=True)
    st = state()
    st.webhooks[body.get("organisation_id") or st.default_org()] = body["url"]
    return jsonify(ok=True), 201


def webhook_body(st: State, spec: dict) -> dict:
    person = st.employees.get(spec.get("employee_id"), {})
    org = person.get("organisation_id") or st.default_org()
    return {
        "event": spec["event"],
        "event_id": spec.get("event_id") or f"evt_{uuid.uuid4().hex}",
        "organisation_id": org,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(st.clock.now())),
        "data": {"id": spec.get("employee_id"), "organisation_id": org},
    }


@admin.post("/fire")
def fire():
    """Send a webhook exactly as EH would, and say what the receiver answered."""
    spec = request.get_json(force=True)
    st = state()
    with st.lock:
        body = spec.get("body") or webhook_body(st, spec)
        url = (
            spec.get("url")
            or st.webhooks.get(body.get("organisation_id"))
            or next(iter(st.webhooks.values()), None)
        )
    if not url:
        return error(400, message="no webhook registered: POST /_admin/webhooks first")
    try:
        answer = requests.post(
            url, json=body, timeout=10, headers={"User-Agent": "EmploymentHero-Webhooks/1.0"}
        )
    except requests.RequestException as exc:
        return jsonify(status=None, body=str(exc), sent=body), 502
    return jsonify(status=answer.status_code, body=answer.text, sent=body)


@admin.post("/expire_tokens")
def expire_tokens():
    st = state()
    with st.lock:
        for token in st.access:
            st.access[token] = st.clock.now()
    return jsonify(ok=True)


add_common_admin(admin, state)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.extensions["eh_sandbox"] = State(dict(config or {}))
    for blueprint in (oauth, api, admin):
        app.register_blueprint(blueprint)
    return app
