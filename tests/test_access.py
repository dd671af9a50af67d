"""Who sees what: every route walked for a stranger, a customer of another tenant and support;
sign-in, its rate limit, single-use expiring links, CSRF and server-side sign-out."""

import json
import os
import re

import pytest

from tests.auth_helpers import (
    csrf_of,
    customer_client,
    customer_link,
    sign_in_support,
    support_client,
    use_link,
)
from tests.fixtures_app import TENANT_YAML
from thsync.web.access import OPEN

JORDAN = "a1e2c3d4-0000-4000-8000-000000000042"
ARG = re.compile(r"<(?:(\w+):)?(\w+)>")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def two_tenants(app, dirs, sandboxes):
    """acme (from the fixtures) and beta, each with one job, so ids of both exist."""
    beta = TENANT_YAML.format(
        client_id="client-beta", eh_url=sandboxes.eh.url, th_url=sandboxes.th.url
    ).replace("Acme Logistics", "Beta Freight")
    (dirs["tenants"] / "beta.yaml").write_text(beta)
    store = app.extensions["thsync"].store
    jobs = {}
    for tenant_id in ("acme", "beta"):
        meta = {"event_type": "employee_created", "employee_id": JORDAN}
        meta["dedup_key"] = f"id:{tenant_id}-1"
        body = json.dumps({"event": "employee_created", "data": {"id": JORDAN}})
        store.deliveries.accept(tenant_id, headers={}, body=body, meta=meta)
        store.jobs.dispatch(0)
        jobs[tenant_id] = store.history.find(tenant_id=tenant_id)[0].id
    assert app.extensions["thsync"].registry.get("beta")[0] is not None
    return jobs


def urls_for(app, tenant_id: str, job_id: int):
    """Every (endpoint, method, url) of the app, its arguments filled for one tenant."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN:
            continue

        def fill(match):
            converter, name = match.groups()
            if name == "tenant_id":
                return tenant_id
            return str(job_id) if converter == "int" else "new_person"

        url = ARG.sub(fill, rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def call(client, method, url):
    headers = {"X-CSRF-Token": client.csrf} if hasattr(client, "csrf") else {}
    return client.open(url, method=method, headers=headers)


def with_csrf(client, path="/"):
    client.csrf = csrf_of(client, path)
    return client


def test_a_customer_gets_nothing_of_another_tenant_on_any_route(app, two_tenants):
    customer = with_csrf(customer_client(app, "acme"), "/tenants/acme/checklist")
    walked = set()
    for endpoint, method, url in urls_for(app, "beta", two_tenants["beta"]):
        response = call(customer, method, url)
        walked.add(endpoint)
        if "beta" not in url:  # no tenant in the URL: the customer's own home, or refused
            assert response.status_code in (302, 400, 403), (method, url)
            assert response.headers.get("Location", "/tenants/acme").startswith("/tenants/acme")
            continue
        assert response.status_code in (403, 404), (method, url, response.status_code)
    every = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint not in OPEN}
    assert walked == every  # a new route is walked without anyone adding it here


def test_a_customer_cannot_reach_another_tenants_ids_through_their_own_urls(app, two_tenants):
    customer = customer_client(app, "acme")
    beta_job = two_tenants["beta"]
    for path in (f"/tenants/acme/events/{beta_job}", f"/tenants/acme/events/{beta_job}.json"):
        assert customer.get(path).status_code == 404
    assert customer.get(f"/tenants/acme/events/{two_tenants['acme']}.json").status_code == 200


def test_a_customer_cannot_finish_another_tenants_eh_connection(app, two_tenants):
    started = support_client(app).get("/tenants/beta/connect")
    state = re.search(r"state=([^&]+)", started.headers["Location"]).group(1)
    customer = customer_client(app, "acme")
    assert customer.get(f"/oauth/callback?state={state}&code=x").status_code == 404


def test_a_customer_reads_their_own_tenant_and_never_support_pages(app, two_tenants):
    customer = customer_client(app, "acme")
    statuses = {}
    for endpoint, method, url in urls_for(app, "acme", two_tenants["acme"]):
        if method == "GET" and "connect" not in endpoint:
            statuses[endpoint] = customer.get(url).status_code
    assert statuses == {
        "web.index": 302,
        "web.index_json": 403,
        "web.tenant_page": 200,
        "web.tenant_json": 200,
        "events.job_page": 302,  # the old job URL leads to the event page
        "events.job_json": 302,
        "oauth.callback": 400,  # reached, but without a state it is refused
        "oauth.pick_organisation": 200,
        "oauth.pick_organisation_json": 200,
        "dashboard.checklist": 200,
        "dashboard.checklist_json": 200,
        "dashboard.mode_page": 403,
        "dashboard.mode_json": 403,
        "events.event_page": 200,
        "events.event_json": 200,
        "events.people": 200,
        "events.people_json": 200,
        "events.rule_tester": 403,
        "events.rule_tester_json": 403,
        "reconciliations.runs_page": 200,
        "reconciliations.runs_json": 200,
        "reconciliations.report_page": 404,  # the walker's id names a job, not a run
        "reconciliations.report_json": 404,
    }


def test_a_stranger_is_sent_to_sign_in_everywhere_but_the_open_routes(app, two_tenants):
    stranger = app.test_client()
    for _, method, url in urls_for(app, "acme", two_tenants["acme"]):
        response = stranger.open(url, method=method)
        if method == "GET" and not url.endswith(".json"):
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/sign-in?next="), url
        else:
            assert response.status_code == 401, (method, url)
    assert stranger.get("/healthz").status_code == 200


def test_every_state_changing_route_needs_the_csrf_token(app, two_tenants):
    support = support_client(app)
    for endpoint, method, url in urls_for(app, "acme", two_tenants["acme"]):
        if method in UNSAFE:
            response = support.open(url, method=method, data={"csrf_token": "wrong"})
            assert response.status_code == 400, (endpoint, url)
    anonymous = app.test_client()
    form = {"username": "support", "password": "x"}
    assert anonymous.post("/sign-in", data=form).status_code == 400


def test_wrong_passwords_are_refused_then_rate_limited(app, clock):
    client = app.test_client()
    for _ in range(5):
        assert sign_in_support(client, password="guess").status_code == 401
    assert sign_in_support(client).status_code == 429  # even the right one, for a while
    clock.advance(15 * 60 + 1)
    assert sign_in_support(client).status_code == 302


def test_an_unknown_user_is_refused_like_a_wrong_password(app):
    response = sign_in_support(app.test_client(), name="mallory")
    assert response.status_code == 401
    assert "That user name and password do not match." in response.get_data(as_text=True)


def test_the_session_cookie_is_httponly_and_samesite(app):
    response = sign_in_support(app.test_client())
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_signing_out_ends_the_session_on_the_server(app):
    support = support_client(app)
    stolen = support.get_cookie("session").value
    assert support.get("/index.json").status_code == 200
    support.post("/sign-out", data={"csrf_token": csrf_of(support, "/")})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/index.json").status_code == 401


def test_a_customer_link_works_once(app):
    url = customer_link(app, "acme")
    first, second = app.test_client(), app.test_client()
    assert first.get(url).status_code == 200  # looking (a mail scanner) does not spend it
    response = use_link(first, url)
    assert response.status_code == 302
    assert response.headers["Location"] == "/tenants/acme/checklist"
    assert second.get(url).status_code == 410
    assert first.get("/tenants/acme/checklist.json").status_code == 200


def test_a_customer_link_expires(app, clock):
    url = customer_link(app, "acme")
    clock.advance(72 * 3600 + 1)
    assert app.test_client().get(url).status_code == 410


def test_a_tampered_link_is_refused(app):
    url = customer_link(app, "acme")
    assert app.test_client().get(url[:-2] + "xx").status_code == 410


def test_development_prints_a_working_support_sign_in(monkeypatch):
    from thsync.devserver import demo_support_user
    from thsync.web.access import password_ok, support_users

    monkeypatch.setenv("SUPPORT_USERS", "")  # so the demo's account is removed afterwards
    shown = demo_support_user({"SUPPORT_USERS": ""})
    assert shown.startswith("user support, password ")
    password = shown.removeprefix("user support, password ")
    users = support_users(os.environ["SUPPORT_USERS"])
    assert password_ok(users, "support", password)
    assert password not in os.environ["SUPPORT_USERS"]  # only its hash is kept


def test_signed_in_is_the_guards_visitor_and_401_without_one(app):
    """Views behind the guard name the visitor through `signed_in`, never a None: outside the
    guard's protection (no visitor), it refuses with 401 rather than failing with a 500."""
    from flask import g
    from werkzeug.exceptions import Unauthorized

    from thsync.web.access import Visitor, signed_in

    with app.test_request_context("/"):
        with pytest.raises(Unauthorized):
            signed_in()
        g.visitor = Visitor("support", "sam", None, "hash")
        assert signed_in() is g.visitor
