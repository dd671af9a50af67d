"""The EH sandbox's REST API under /api/v1: bearer tokens, `{"data": …}` bodies, `page_index` /
`item_per_page` pagination (default 20, max 100), 20 calls a second and 100 a minute per token."""

import math

from flask import Blueprint, jsonify, request

from sandboxes.common import error, outcome, serve_fault
from sandboxes.eh_state import state

api = Blueprint("eh_api", __name__, url_prefix="/api/v1")

API_FAULTS = ("500", "429", "401", "slow", "drop")
ORG_FIELDS = ("id", "name", "phone", "country", "logo_url")


def unauthorised(description: str):
    return error(401, error="invalid_token", error_description=description)


def rate_limited(description: str):
    return error(429, error="rate_limit_exceeded", error_description=description)


def not_found(what: str):
    return error(404, error="not_found", error_description=f"{what} not found")


INJECTED = {
    "500": lambda: error(500, error="server_error", error_description="injected fault"),
    "429": lambda: rate_limited("too many requests (injected)"),
    "401": lambda: unauthorised("the access token was rejected (injected)"),
}


@api.before_request
def gatekeeper():
    """Injected faults, then the bearer token, then the token's rate limits; None lets the
    request through."""
    st = state()
    faulted = serve_fault(
        st.faults.take(request.path, request.method, API_FAULTS), lambda kind: INJECTED[kind]()
    )
    if faulted:
        return faulted
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    problem = st.access_problem(token)
    if problem:
        return unauthorised(problem)
    over = st.over_rate(token)
    return rate_limited(over) if over else None


@api.after_request
def record(response):
    state().log.add(
        method=request.method,
        path=request.path,
        query=request.query_string.decode(),
        token_kind="bearer",
        **outcome(response.status_code),
    )
    return response


def page_of(items: list):
    try:
        index = max(int(request.args.get("page_index", 1)), 1)
        size = min(max(int(request.args.get("item_per_page", 20)), 1), 100)
    except ValueError:
        return error(
            400,
            error="invalid_request",
            error_description="page_index and item_per_page must be whole numbers",
        )
    data = {
        "items": items[(index - 1) * size : index * size],
        "page_index": index,
        "item_per_page": size,
        "total_items": len(items),
        "total_pages": max(math.ceil(len(items) / size), 1),
    }
    return jsonify(data=data)


@api.get("/user_info")
def user_info():
    return jsonify(data=state().user)


@api.get("/organisations")
def organisations():
    return page_of([{k: o.get(k) for k in ORG_FIELDS} for o in state().organisations])


@api.get("/organisations/<org>")
def organisation(org):
    st = state()
    found = st.organisation(org)
    if found is None:
        return not_found("organisation")
    active = [e for e in st.org_employees(org) if e.get("status") in (None, "", "active")]
    return jsonify(data={**found, "active_employees_count": len(active)})


@api.get("/organisations/<org>/employees")
def employees(org):
    # member_type (employee/contractor…) is accepted and ignored: the sandbox lists everyone
    st = state()
    if st.organisation(org) is None:
        return not_found("organisation")
    return page_of(st.org_employees(org))


@api.get("/organisations/<org>/employees/<employee_id>")
def employee(org, employee_id):
    found = state().employee(employee_id, org)
    return jsonify(data=found) if found else not_found("employee")


@api.get("/organisations/<org>/employees/<employee_id>/custom_fields")
def custom_fields(org, employee_id):
    st = state()
    if st.employee(employee_id, org) is None:
        return not_found("employee")
    return page_of(st.items_of("custom_fields", employee_id))


@api.get("/organisations/<org>/employees/<employee_id>/employment_histories")
def employment_histories(org, employee_id):
    st = state()
    if st.employee(employee_id, org) is None:
        return not_found("employee")
    return page_of(st.items_of("histories", employee_id))


def org_teams(org: str) -> dict:
    found = {}
    for person in state().org_employees(org):
        for team in person.get("teams") or []:
            found[team["id"]] = {"id": team["id"], "name": team.get("name")}
    return found


@api.get("/organisations/<org>/teams")
def teams(org):
    if state().organisation(org) is None:
        return not_found("organisation")
    return page_of(sorted(org_teams(org).values(), key=lambda t: t["id"]))


@api.get("/organisations/<org>/teams/<team_id>/employees")
def team_employees(org, team_id):
    if team_id not in org_teams(org):
        return not_found("team")
    people = state().org_employees(org)
    return page_of([p for p in people if any(t.get("id") == team_id for t in p.get("teams") or [])])
