"""The Employment Hero sandbox keeps the contract (../shared/contracts/employment-hero.md): the
rest of the suite trusts it, so it is checked here over real HTTP, on a ManualClock."""

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, jsonify, request

from sandboxes.eh import create_app, load_samples, seed_from_samples
from sandboxes.serve import ServerHandle, start
from thsync.core.clock import ManualClock

DEMO_DATA = Path(__file__).resolve().parents[1] / "sandboxes" / "demo_data"
ORG = "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e"
OTHER_ORG = "9c1d2e3f-0000-4000-8000-00000000beef"
CLIENT_ID, CLIENT_SECRET = "client-eh", "secret-eh-0123456789"
REDIRECT = "http://127.0.0.1:9/oauth/callback"
VERIFIER = "v" * 64
ORGS = [
    {"id": ORG, "name": "Harbourline Logistics", "time_zone": "Australia/Sydney"},
    {"id": OTHER_ORG, "name": "Other Co", "time_zone": "Europe/London"},
]
START = 1_795_000_000.0  # 2026-11-18T22:06:40+11:00


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


AUTHORIZE = {
    "response_type": "code",
    "client_id": CLIENT_ID,
    "redirect_uri": REDIRECT,
    "state": "st-1",
    "code_challenge": challenge_of(VERIFIER),
    "code_challenge_method": "S256",
}


@dataclass
class EH:
    app: Flask
    handle: ServerHandle
    http: requests.Session

    @property
    def url(self) -> str:
        return self.handle.url

    def admin(self, method: str, path: str, body=None):
        answer = self.http.request(method, f"{self.url}/_admin{path}", json=body, timeout=10)
        assert answer.status_code < 400, answer.text
        return answer.json()

    def token(self, **form) -> requests.Response:
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
        return self.http.post(f"{self.url}/oauth2/token", data=form, timeout=10)

    def code(self, **params) -> str:
        answer = self.http.post(
            f"{self.url}/oauth2/authorize",
            data={**AUTHORIZE, **params, "approve": "1"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]

    def tokens(self) -> dict:
        answer = self.token(
            grant_type="authorization_code",
            code=self.code(),
            redirect_uri=REDIRECT,
            code_verifier=VERIFIER,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def get(self, access: str, path: str, timeout: float = 10, **params) -> requests.Response:
        return self.http.get(
            f"{self.url}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {access}"},
            timeout=timeout,
        )


@pytest.fixture
def clock():
    return ManualClock(start=START)


@pytest.fixture
def make_eh(clock):
    made = []

    def make(**overrides) -> EH:
        config = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [REDIRECT],
            "organisations": ORGS,
            "clock": clock,
            **overrides,
        }
        app = create_app({k: v for k, v in config.items() if v is not None})
        box = EH(app, start(app), requests.Session())
        made.append(box)
        return box

    yield make
    for box in made:
        box.http.close()
        box.handle.stop()


@pytest.fixture
def eh(make_eh) -> EH:
    return make_eh()


@pytest.fixture
def access(eh) -> str:
    return eh.tokens()["access_token"]


def person(n: int, org: str = ORG, **fields) -> dict:
    return {"id": f"e-{n:03}", "first_name": f"P{n}", "organisation_id": org, **fields}


# -- OAuth ------------------------------------------------------------------------------------


def test_consent_page_carries_the_parameters_to_a_form(eh):
    page = eh.http.get(f"{eh.url}/oauth2/authorize", params=AUTHORIZE, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    for key, value in AUTHORIZE.items():
        assert f'<input type="hidden" name="{key}" value="{value}">' in page.text
    assert '<button name="approve" value="1">Authorise</button>' in page.text


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"scope": "employees"}, "scope is not accepted: scopes are fixed on the API application"),
        ({"response_type": "token"}, "response_type must be code"),
        ({"client_id": "someone-else"}, "unknown client_id"),
        (
            {"redirect_uri": "http://evil.example/cb"},
            "redirect_uri is not registered for this application",
        ),
        (
            {"code_challenge_method": "plain"},
            "PKCE is required: code_challenge with code_challenge_method S256",
        ),
        (
            {"code_challenge": ""},
            "PKCE is required: code_challenge with code_challenge_method S256",
        ),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_authorize_refuses_bad_parameters(eh, change, description, method):
    params = {**AUTHORIZE, **change}
    if method == "GET":
        answer = eh.http.get(f"{eh.url}/oauth2/authorize", params=params, timeout=10)
    else:
        answer = eh.http.post(
            f"{eh.url}/oauth2/authorize", data={**params, "approve": "1"}, timeout=10
        )
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_request", "error_description": description}


def test_any_http_redirect_is_allowed_when_none_are_registered(make_eh):
    eh = make_eh(redirect_uris=[])
    assert eh.code(redirect_uri="http://localhost:5000/anything")


def test_denying_redirects_with_access_denied(eh):
    answer = eh.http.post(
        f"{eh.url}/oauth2/authorize",
        data={**AUTHORIZE, "approve": "0"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{REDIRECT}?error=access_denied&state=st-1"


def test_the_full_flow_with_pkce_gives_working_tokens(eh):
    answer = eh.http.post(
        f"{eh.url}/oauth2/authorize",
        data={**AUTHORIZE, "approve": "1"},
        allow_redirects=False,
        timeout=10,
    )
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == ["st-1"]
    tokens = eh.token(
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT,
        code_verifier=VERIFIER,
    ).json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("bearer", 900)
    assert eh.get(tokens["access_token"], "/user_info").status_code == 200


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"code_verifier": "w" * 64}, "the code_verifier does not match"),
        ({"code_verifier": ""}, "the code_verifier does not match"),
        ({"redirect_uri": "http://127.0.0.1:9/other"}, "redirect_uri does not match"),
        ({"code": "made-up"}, "the code is unknown, used or expired"),
    ],
)
def test_code_exchange_refusals_are_invalid_grant(eh, change, description):
    form = {
        "grant_type": "authorization_code",
        "code": eh.code(),
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        **change,
    }
    answer = eh.token(**form)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": description}


def test_codes_are_single_use_even_after_a_wrong_verifier(eh):
    code = eh.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert eh.token(**form, code_verifier=VERIFIER).status_code == 200
    again = eh.token(**form, code_verifier=VERIFIER)
    assert again.json()["error_description"] == "the code is unknown, used or expired"
    code = eh.code()
    eh.token(**{**form, "code": code}, code_verifier="w" * 64)
    assert eh.token(**{**form, "code": code}, code_verifier=VERIFIER).status_code == 400


def test_codes_expire_after_ten_minutes(eh, clock):
    code = eh.code()
    clock.advance(600)
    answer = eh.token(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=VERIFIER
    )
    assert answer.json()["error_description"] == "the code is unknown, used or expired"


FORM_ONLY = {
    "error": "invalid_request",
    "error_description": "send the parameters form-encoded in the body",
}


@pytest.mark.parametrize("how", ["json", "query", "multipart"])
def test_token_endpoint_takes_form_bodies_only(eh, how):
    form = {
        "grant_type": "authorization_code",
        "code": eh.code(),
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    url = f"{eh.url}/oauth2/token"
    sent = {
        "json": lambda: eh.http.post(url, json=form, timeout=10),
        "query": lambda: eh.http.post(url, params=form, timeout=10),
        "multipart": lambda: eh.http.post(
            url, files={k: (None, v) for k, v in form.items()}, timeout=10
        ),
    }[how]()
    assert (sent.status_code, sent.json()) == (400, FORM_ONLY)


@pytest.mark.parametrize(
    ("form", "status", "body"),
    [
        (
            {"client_secret": "wrong"},
            401,
            {"error": "invalid_client", "error_description": "client authentication failed"},
        ),
        (
            {"client_id": "someone-else"},
            401,
            {"error": "invalid_client", "error_description": "client authentication failed"},
        ),
        (
            {"grant_type": "client_credentials"},
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": "authorization_code or refresh_token only",
            },
        ),
    ],
)
def test_token_endpoint_checks_the_client_and_the_grant(eh, form, status, body):
    answer = eh.token(**{"grant_type": "refresh_token", "refresh_token": "x", **form})
    assert (answer.status_code, answer.json()) == (status, body)


def test_refresh_tokens_rotate_and_the_old_one_dies(eh):
    first = eh.tokens()
    second = eh.token(grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    again = eh.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (again.status_code, again.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "the refresh token is not valid"},
    )
    third = eh.token(grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert third.status_code == 200
    assert eh.get(third.json()["access_token"], "/user_info").status_code == 200


def test_refresh_tokens_can_be_kept_instead(make_eh):
    eh = make_eh(rotate_refresh_tokens=False)
    first = eh.tokens()
    for _ in range(2):
        again = eh.token(grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
        assert again["refresh_token"] == first["refresh_token"]


@pytest.mark.parametrize("ttl", [None, 60])
def test_access_tokens_live_for_their_ttl_on_the_sandbox_clock(make_eh, clock, ttl):
    eh = make_eh(access_token_ttl=ttl)
    tokens = eh.tokens()
    lifetime = ttl or 900
    assert tokens["expires_in"] == lifetime
    clock.advance(lifetime - 1)
    assert eh.get(tokens["access_token"], "/user_info").status_code == 200
    clock.advance(1)
    expired = eh.get(tokens["access_token"], "/user_info")
    assert (expired.status_code, expired.json()) == (
        401,
        {"error": "invalid_token", "error_description": "the access token has expired"},
    )


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "not-a-token"])
def test_unknown_or_missing_tokens_are_401(eh, access, header):
    headers = {"Authorization": header} if header else {}
    answer = eh.http.get(f"{eh.url}/api/v1/user_info", headers=headers, timeout=10)
    assert (answer.status_code, answer.json()) == (
        401,
        {"error": "invalid_token", "error_description": "the access token is unknown"},
    )


def test_expire_tokens_ends_every_access_token_now(eh, access):
    eh.admin("POST", "/expire_tokens")
    assert eh.get(access, "/user_info").status_code == 401


# -- the API --------------------------------------------------------------------------------


def test_list_pages_have_the_contract_shape(eh, access):
    eh.admin("POST", "/employees", [person(n) for n in range(45)])
    first = eh.get(access, f"/organisations/{ORG}/employees", member_type="employee").json()
    assert set(first) == {"data"}
    data = first["data"]
    assert {k: v for k, v in data.items() if k != "items"} == {
        "page_index": 1,
        "item_per_page": 20,
        "total_items": 45,
        "total_pages": 3,
    }
    assert [p["id"] for p in data["items"]] == [f"e-{n:03}" for n in range(20)]
    last = eh.get(access, f"/organisations/{ORG}/employees", page_index=3).json()["data"]
    assert [p["id"] for p in last["items"]] == [f"e-{n:03}" for n in range(40, 45)]
    beyond = eh.get(access, f"/organisations/{ORG}/employees", page_index=4).json()["data"]
    assert (beyond["items"], beyond["total_pages"]) == ([], 3)


@pytest.mark.parametrize(
    ("asked", "given", "items", "pages"),
    [(500, 100, 100, 2), (100, 100, 100, 2), (99, 99, 99, 2), (0, 1, 1, 150)],
)
def test_item_per_page_is_capped_at_100(eh, access, asked, given, items, pages):
    eh.admin("POST", "/employees", [person(n) for n in range(150)])
    data = eh.get(access, f"/organisations/{ORG}/employees", item_per_page=asked).json()["data"]
    assert (data["item_per_page"], len(data["items"]), data["total_pages"]) == (
        given,
        items,
        pages,
    )


def test_paging_parameters_must_be_numbers(eh, access):
    answer = eh.get(access, f"/organisations/{ORG}/employees", page_index="two")
    assert (answer.status_code, answer.json()) == (
        400,
        {
            "error": "invalid_request",
            "error_description": "page_index and item_per_page must be whole numbers",
        },
    )


def test_one_employee_only_in_its_own_organisation(eh, access):
    eh.admin("POST", "/employees", [person(1, job_title="Driver"), person(2, org=OTHER_ORG)])
    one = eh.get(access, f"/organisations/{ORG}/employees/e-001")
    assert one.json() == {"data": person(1, job_title="Driver")}
    for path in (f"/organisations/{ORG}/employees/e-002", f"/organisations/{ORG}/employees/e-9"):
        missing = eh.get(access, path)
        assert (missing.status_code, missing.json()) == (
            404,
            {"error": "not_found", "error_description": "employee not found"},
        )


def test_organisations(eh, access):
    eh.admin("POST", "/employees", [person(1, status="active"), person(2, status="terminated")])
    listed = eh.get(access, "/organisations").json()["data"]
    assert listed["items"] == [
        {
            "id": ORG,
            "name": "Harbourline Logistics",
            "phone": None,
            "country": None,
            "logo_url": None,
        },
        {"id": OTHER_ORG, "name": "Other Co", "phone": None, "country": None, "logo_url": None},
    ]
    one = eh.get(access, f"/organisations/{ORG}").json()["data"]
    assert (one["time_zone"], one["active_employees_count"]) == ("Australia/Sydney", 1)
    assert eh.get(access, "/organisations/nowhere").status_code == 404
    assert eh.get(access, "/organisations/nowhere/employees").status_code == 404


def test_user_info_is_the_configured_user_or_an_owner_of_every_org(make_eh):
    user = json.loads((DEMO_DATA / "user-info.json").read_text())["data"]
    configured = make_eh(user=user)
    assert configured.get(configured.tokens()["access_token"], "/user_info").json() == {
        "data": user
    }
    default = make_eh()
    data = default.get(default.tokens()["access_token"], "/user_info").json()["data"]
    assert [(m["organisation_id"], m["role"]) for m in data["memberships"]] == [
        (ORG, "owner"),
        (OTHER_ORG, "owner"),
    ]


def test_custom_fields_and_employment_histories(eh, access):
    eh.admin("POST", "/employees", person(1))
    base = f"/organisations/{ORG}/employees/e-001"
    assert eh.get(access, f"{base}/employment_histories").json()["data"]["items"] == []
    sample = json.loads((DEMO_DATA / "custom-fields-employee-42.json").read_text())
    eh.admin("POST", "/custom_fields/e-001", sample)  # a sample file's shape is accepted
    history = [{"id": "h-1", "title": "Driver", "start_date": "2024-01-02", "end_date": None}]
    eh.admin("POST", "/employment_histories/e-001", history)
    fields = eh.get(access, f"{base}/custom_fields").json()["data"]
    assert fields["items"] == sample["data"]["items"]
    assert eh.get(access, f"{base}/employment_histories").json()["data"]["items"] == history
    other = f"/organisations/{OTHER_ORG}/employees/e-001/custom_fields"
    assert eh.get(access, other).status_code == 404


def test_teams_come_from_the_people_in_them(eh, access):
    ops, fleet = {"id": "t-ops", "name": "Operations"}, {"id": "t-fleet", "name": "Fleet"}
    eh.admin("POST", "/employees", [person(1, teams=[ops, fleet]), person(2, teams=[ops])])
    teams = eh.get(access, f"/organisations/{ORG}/teams").json()["data"]["items"]
    assert teams == [fleet, ops]
    members = eh.get(access, f"/organisations/{ORG}/teams/t-ops/employees").json()["data"]
    assert [p["id"] for p in members["items"]] == ["e-001", "e-002"]
    assert eh.get(access, f"/organisations/{ORG}/teams/t-none/employees").status_code == 404


# -- rate limits ------------------------------------------------------------------------------


def test_100_calls_a_minute_per_token_then_429_until_the_window_moves(eh, clock):
    access, other = eh.tokens()["access_token"], eh.tokens()["access_token"]
    statuses = []
    for _ in range(100):
        statuses.append(eh.get(access, "/user_info").status_code)
        clock.advance(0.125)  # eight a second: under the per-second limit
    assert statuses == [200] * 100
    refused = eh.get(access, "/user_info")
    assert (refused.status_code, refused.json()) == (
        429,
        {"error": "rate_limit_exceeded", "error_description": "more than 100 requests a minute"},
    )
    assert eh.get(other, "/user_info").status_code == 200  # per token
    clock.advance(47.5)  # the first call is now a minute old
    assert eh.get(access, "/user_info").status_code == 200
    assert eh.get(access, "/user_info").status_code == 429  # the second one is not, yet


def test_20_calls_a_second_per_token(eh, access, clock):
    statuses = [eh.get(access, "/user_info").status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    refused = eh.get(access, "/user_info").json()
    assert refused["error_description"] == "more than 20 requests a second"
    clock.advance(1)
    assert eh.get(access, "/user_info").status_code == 200


# -- webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    """A tiny webhook receiver that keeps what it got and answers 202."""
    app = Flask("receiver")
    app.config["got"] = []
    app.config["before_answering"] = lambda: None

    @app.post("/hook/<token>")
    def hook(token):
        app.config["got"].append(
            {"token": token, "headers": dict(request.headers), "body": request.get_data()}
        )
        app.config["before_answering"]()
        return jsonify(ok=True), 202

    with start(app) as handle:
        yield handle, app


def test_fire_posts_the_default_body_to_the_registered_url(eh, receiver):
    handle, app = receiver
    eh.admin("POST", "/employees", person(42))
    eh.admin("POST", "/webhooks", {"url": f"{handle.url}/hook/secret-token"})
    result = eh.admin("POST", "/fire", {"event": "employee_updated", "employee_id": "e-042"})
    sent = result["sent"]
    assert (result["status"], json.loads(result["body"])) == (202, {"ok": True})
    assert sent["event_id"].startswith("evt_") and len(sent["event_id"]) > 10
    assert sent == {
        "event": "employee_updated",
        "event_id": sent["event_id"],
        "organisation_id": ORG,
        "created_at": "2026-11-18T22:06:40+11:00",  # the org's time zone, the sandbox clock
        "data": {"id": "e-042", "organisation_id": ORG},
    }
    [got] = app.config["got"]
    assert got["token"] == "secret-token"
    assert json.loads(got["body"]) == sent
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["User-Agent"] == "EmploymentHero-Webhooks/1.0"


def test_fire_keeps_a_given_event_id_url_and_body(eh, receiver):
    handle, app = receiver
    eh.admin("POST", "/webhooks", {"url": f"{handle.url}/hook/registered"})
    given = eh.admin(
        "POST", "/fire", {"event": "employee_created", "employee_id": "e-1", "event_id": "evt_7"}
    )
    assert given["sent"]["event_id"] == "evt_7"
    body = {"anything": ["EH", "might", "send"]}
    eh.admin("POST", "/fire", {"body": body, "url": f"{handle.url}/hook/override"})
    assert [g["token"] for g in app.config["got"]] == ["registered", "override"]
    assert json.loads(app.config["got"][1]["body"]) == body


def test_fire_does_not_hold_the_sandbox_while_the_receiver_calls_back(eh, receiver):
    handle, app = receiver
    eh.admin("POST", "/employees", person(1))
    seen = []
    app.config["before_answering"] = lambda: seen.append(
        requests.get(f"{eh.url}/_admin/employees/e-001", timeout=2).json()["id"]
    )
    eh.admin("POST", "/webhooks", {"url": f"{handle.url}/hook/t"})
    assert (
        eh.admin("POST", "/fire", {"event": "employee_updated", "employee_id": "e-001"})["status"]
        == 202
    )
    assert seen == ["e-001"]


def test_fire_without_a_target_or_a_receiver(eh):
    answer = eh.http.post(f"{eh.url}/_admin/fire", json={"event": "employee_updated"}, timeout=10)
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "no webhook registered: POST /_admin/webhooks first"},
    )
    down = eh.http.post(
        f"{eh.url}/_admin/fire",
        json={"event": "employee_updated", "url": "http://127.0.0.1:9/hook"},
        timeout=10,
    )
    assert (down.status_code, down.json()["status"]) == (502, None)
    assert "Connection refused" in down.json()["error"]


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("500", 500, {"error": "server_error", "error_description": "injected fault"}),
        (
            "429",
            429,
            {"error": "rate_limit_exceeded", "error_description": "too many requests (injected)"},
        ),
        (
            "401",
            401,
            {
                "error": "invalid_token",
                "error_description": "the access token was rejected (injected)",
            },
        ),
    ],
)
def test_api_faults_answer_for_count_requests(eh, access, kind, status, body):
    eh.admin("POST", "/faults", {"kind": kind, "count": 2, "path": "/api/v1/user_info"})
    assert eh.get(access, "/organisations").status_code == 200  # another path
    for _ in range(2):
        answer = eh.get(access, "/user_info")
        assert (answer.status_code, answer.json()) == (status, body)
    assert eh.get(access, "/user_info").status_code == 200


def test_drop_hangs_up_without_an_answer(eh, access):
    eh.admin("POST", "/faults", {"kind": "drop"})
    with pytest.raises(requests.ConnectionError):
        eh.get(access, "/user_info")
    assert eh.get(access, "/user_info").status_code == 200
    log = [(r["path"], r["status"], r.get("dropped")) for r in eh.admin("GET", "/requests")]
    assert log[-2:] == [("/api/v1/user_info", None, True), ("/api/v1/user_info", 200, None)]


def test_slow_answers_late(eh, access):
    eh.admin("POST", "/faults", {"kind": "slow", "delay": 0.2})
    with pytest.raises(requests.ReadTimeout):
        eh.get(access, "/user_info", timeout=0.05)
    eh.admin("POST", "/faults", {"kind": "slow", "delay": 0.1})
    began = time.monotonic()
    assert eh.get(access, "/user_info").status_code == 200
    assert time.monotonic() - began >= 0.1


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        (
            "invalid_grant",
            400,
            {"error": "invalid_grant", "error_description": "the grant was revoked (injected)"},
        ),
        ("500", 500, {"error": "server_error", "error_description": "injected fault"}),
        (
            "429",
            429,
            {"error": "rate_limit_exceeded", "error_description": "too many requests (injected)"},
        ),
    ],
)
def test_token_endpoint_faults(eh, kind, status, body):
    refresh = eh.tokens()["refresh_token"]
    eh.admin("POST", "/faults", {"kind": kind, "path": "/oauth2/token"})
    answer = eh.token(grant_type="refresh_token", refresh_token=refresh)
    assert (answer.status_code, answer.json()) == (status, body)
    assert eh.token(grant_type="refresh_token", refresh_token=refresh).status_code == 200


def test_token_endpoint_drop_keeps_the_refresh_token(eh):
    refresh = eh.tokens()["refresh_token"]
    eh.admin("POST", "/faults", {"kind": "drop", "path": "/oauth2/token"})
    with pytest.raises(requests.ConnectionError):
        eh.token(grant_type="refresh_token", refresh_token=refresh)
    dropped = eh.admin("GET", "/requests")[-1]
    assert (dropped["token_kind"], dropped["status"], dropped["dropped"]) == (
        "refresh_token",
        None,
        True,
    )
    assert eh.token(grant_type="refresh_token", refresh_token=refresh).status_code == 200


def test_faults_can_be_cleared_and_must_be_known(eh, access):
    eh.admin("POST", "/faults", {"kind": "500", "count": 5})
    eh.admin("DELETE", "/faults")
    assert eh.get(access, "/user_info").status_code == 200
    answer = eh.http.post(f"{eh.url}/_admin/faults", json={"kind": "drop_after_write"}, timeout=10)
    assert (answer.status_code, answer.json()) == (
        400,
        {
            "message": "unknown fault kind 'drop_after_write'; "
            "one of: 500, 429, 401, slow, drop, invalid_grant"
        },
    )


# -- admin ------------------------------------------------------------------------------------


def test_request_log_says_what_was_asked(eh, clock):
    tokens = eh.tokens()
    clock.advance(5)
    eh.get(tokens["access_token"], f"/organisations/{ORG}/employees", page_index=2)
    eh.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert eh.admin("GET", "/requests") == [
        {
            "time": START,
            "method": "POST",
            "path": "/oauth2/token",
            "status": 200,
            "token_kind": "authorization_code",
        },
        {
            "time": START + 5,
            "method": "GET",
            "path": f"/api/v1/organisations/{ORG}/employees",
            "query": "page_index=2",
            "status": 200,
            "token_kind": "bearer",
        },
        {
            "time": START + 5,
            "method": "POST",
            "path": "/oauth2/token",
            "status": 200,
            "token_kind": "refresh_token",
        },
    ]
    eh.admin("DELETE", "/requests")
    assert eh.admin("GET", "/requests") == []


def test_admin_employees_upsert_merge_and_show(eh):
    sample = json.loads((DEMO_DATA / "employee-active.json").read_text())
    assert eh.admin("POST", "/employees", sample)["count"] == 1  # {"data": …} as in the samples
    jordan = sample["data"]["id"]
    changed = eh.admin("PATCH", f"/employees/{jordan}", {"job_title": "Site Manager"})
    assert (changed["job_title"], changed["first_name"]) == ("Site Manager", "Jordan")
    assert changed["organisation_id"] == ORG  # the first organisation by default
    eh.admin("POST", "/employees", {"id": jordan, "first_name": "J"})  # upsert: whole record
    assert eh.admin("GET", f"/employees/{jordan}") == {
        "id": jordan,
        "first_name": "J",
        "organisation_id": ORG,
    }
    for method, body in (("POST", {"first_name": "no id"}), ("PATCH", {"x": 1})):
        path = "/_admin/employees" + ("/nobody" if method == "PATCH" else "")
        answer = eh.http.request(method, eh.url + path, json=body, timeout=10)
        assert answer.status_code == (400 if method == "POST" else 404)


def test_reset_forgets_people_tokens_and_webhooks(eh, access):
    eh.admin("POST", "/employees", person(1))
    eh.admin("POST", "/webhooks", {"url": "http://127.0.0.1:9/hook"})
    eh.admin("POST", "/reset")
    assert eh.get(access, "/user_info").status_code == 401
    assert eh.http.get(f"{eh.url}/_admin/employees/e-001", timeout=10).status_code == 404
    answer = eh.http.post(f"{eh.url}/_admin/fire", json={"event": "employee_updated"}, timeout=10)
    assert answer.status_code == 400


def test_admin_clock_moves_the_default_clock(make_eh):
    eh = make_eh(clock=None)
    access = eh.tokens()["access_token"]
    eh.admin("POST", "/clock", {"advance": 900})
    assert eh.get(access, "/user_info").status_code == 401


def test_seed_from_samples(eh, access, tmp_path):
    ids = seed_from_samples(eh.app, DEMO_DATA)
    assert len(ids) == 5
    jordan = "a1e2c3d4-0000-4000-8000-000000000042"
    fields = eh.get(access, f"/organisations/{ORG}/employees/{jordan}/custom_fields").json()
    assert [f["name"] for f in fields["data"]["items"]] == [
        "Induction Pathway",
        "Licences",
        "Badge Number",
    ]
    page = {"data": {"items": [person(1), person(2)], "page_index": 1}}
    (tmp_path / "employees-page-1.json").write_text(json.dumps(page))
    (tmp_path / "employee-one.json").write_text(json.dumps({"data": person(1, first_name="Uno")}))
    (tmp_path / "webhook-employee-created.json").write_text(json.dumps({"event": "x"}))
    assert load_samples(tmp_path) == [person(1, first_name="Uno"), person(2)]
    assert load_samples(tmp_path / "employees-page-1.json") == [person(1), person(2)]
