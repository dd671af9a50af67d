"""The Employment Hero client and OAuth helpers: pure parts first, then real HTTP against the
sandbox (sharing the test's ManualClock, so token expiry moves for both)."""

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures_clients import Admin, CallLog, MemoryLimiter, MemoryVault, serving
from thsync.core.clock import ManualClock
from thsync.core.errors import (
    NeedsReauthorisation,
    NotConnected,
    PermanentError,
    RateLimited,
    TransientError,
)
from thsync.sources.employment_hero.client import (
    EHClient,
    Tokens,
    _refusal,
    authorize_url,
    exchange_code,
    make_pkce,
    refresh_tokens,
)
from thsync.sources.employment_hero.oauth import challenge_for, retry_after, token_excerpt

# -- pure parts ------------------------------------------------------------------------------


def test_challenge_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_for(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_make_pkce_gives_a_fresh_64_character_verifier_and_its_challenge():
    verifier, challenge = make_pkce()
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", verifier)
    assert challenge == challenge_for(verifier)
    assert make_pkce()[0] != verifier


@pytest.mark.parametrize(
    "endpoint, base",
    [
        ("https://oauth.employmenthero.com/oauth2/authorize", "/oauth2/authorize"),
        ("http://127.0.0.1:5001/oauth2/authorize?tenant=x", "/oauth2/authorize"),
    ],
)
def test_authorize_url_has_pkce_and_no_scope(endpoint, base):
    url = authorize_url(
        endpoint, "client id", "https://sync.example/oauth/callback", "st&ate", "CH"
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == base
    assert "scope" not in query
    assert {key: values[-1] for key, values in query.items()} == {
        **({"tenant": "x"} if "tenant" in endpoint else {}),
        "response_type": "code",
        "client_id": "client id",
        "redirect_uri": "https://sync.example/oauth/callback",
        "state": "st&ate",
        "code_challenge": "CH",
        "code_challenge_method": "S256",
    }


def test_tokens_repr_hides_the_token_values():
    text = repr(Tokens("access-secret", "refresh-secret", 123.0))
    assert "secret" not in text
    assert "123.0" in text


def response(body: str, headers=None, authorization=None) -> requests.Response:
    """A response as requests would build it, for the helpers that only read one."""
    made = requests.Response()
    made._content = body.encode()
    made.headers.update(headers or {})
    made.request = requests.Request("GET", "http://eh.invalid/", headers=authorization).prepare()
    return made


@pytest.mark.parametrize(
    "headers, seconds",
    [({"Retry-After": "17"}, 17.0), ({}, 60.0), ({"Retry-After": "0"}, 60.0)]
    + [({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 60.0)],
)
def test_retry_after(headers, seconds):
    assert retry_after(response("", headers)) == seconds


@pytest.mark.parametrize(
    "body, authorization, excerpt",
    [
        (
            '{"access_token": "AT", "refresh_token": "RT", "expires_in": 900}',
            None,
            '{"access_token": "[redacted]", "refresh_token": "[redacted]", "expires_in": 900}',
        ),
        ('{"error": "invalid_grant"}', None, '{"error": "invalid_grant"}'),
        ("echo tok-123!", {"Authorization": "Bearer tok-123"}, "echo [access token]!"),
        ("x" * 600, None, "x" * 500),
        ("access_token=AT&expires_in=900", None, "[a token response that is not JSON]"),
        ("y" * 495 + "tok-123", {"Authorization": "Bearer tok-123"}, "y" * 495 + "[acce"),
    ],
)
def test_token_excerpt_blanks_tokens(body, authorization, excerpt):
    assert token_excerpt(response(body, authorization=authorization)) == excerpt


@pytest.mark.parametrize(
    "status, excerpt, message",
    [
        (
            403,
            "",
            "Employment Hero refused employee e-1 (HTTP 403): the API application lacks the scope "
            "for it (insufficient_scope), or the EH user who authorised the connection may not "
            "see it.",
        ),
        (
            404,
            "",
            "Employment Hero found nothing for employee e-1 (HTTP 404): is the organisation right?",
        ),
        (
            422,
            '{"error": "bad"}',
            'Employment Hero refused employee e-1 (HTTP 422): {"error": "bad"}',
        ),
        (400, "", "Employment Hero refused employee e-1 (HTTP 400): no message"),
    ],
)
def test_refusal_messages(status, excerpt, message):
    """Statuses the sandbox cannot be made to answer (403) are checked here, by message."""
    assert _refusal(status, "employee e-1", excerpt) == message


# -- over HTTP against the sandbox -----------------------------------------------------------

CLIENT_ID = "eh-client-acme"
CLIENT_SECRET = "eh-secret-7c9d1e"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
ORG = "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e"
TENANT = "acme"
LIMITER_KEY = "eh:acme"
SERVICE_USER = {
    "id": "u-9f8e7d6c",
    "email": "integrations@harbourline.example",
    "name": "Integration Service User",
    "memberships": [
        {
            "member_id": "m-1",
            "organisation_id": ORG,
            "organisation_name": "Harbourline Logistics",
            "role": "owner",
            "email": "integrations@harbourline.example",
            "name": "Integration Service User",
        }
    ],
}


@pytest.fixture(scope="module")
def sandbox_clock():
    return ManualClock(start=1_795_000_000.0)


@pytest.fixture
def clock(sandbox_clock):
    """One sandbox serves the whole module (starting one costs half a second), so the clock
    it was built with is every test's clock: expiry moves for the client and EH alike."""
    return sandbox_clock


@pytest.fixture(scope="module")
def eh_sandbox(sandbox_clock):
    from sandboxes.eh import create_app

    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "organisations": [
            {"id": ORG, "name": "Harbourline Logistics", "time_zone": "Australia/Sydney"}
        ],
        "user": SERVICE_USER,
        "clock": sandbox_clock,
    }
    with serving(create_app(config)) as url:
        admin = Admin(url)
        yield admin
        admin.close()


@pytest.fixture
def admin(eh_sandbox):
    """The sandbox's admin API, with the sandbox reset (no people, tokens or faults)."""
    eh_sandbox.call("POST", "/reset")
    return eh_sandbox


@pytest.fixture
def eh_url(admin):
    return admin.base_url


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def approve(eh_url, http, challenge, state="st-1") -> str:
    """Walk the consent page as the customer would; returns the code from the redirect."""
    url = authorize_url(f"{eh_url}/oauth2/authorize", CLIENT_ID, REDIRECT_URI, state, challenge)
    page = http.get(url, timeout=10)
    assert page.status_code == 200
    form = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = http.post(
        f"{eh_url}/oauth2/authorize", data={**form, "approve": "1"}, allow_redirects=False
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = {k: v[-1] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert query["state"] == state
    return query["code"]


def exchange(eh_url, code, verifier, clock, **options) -> Tokens:
    return exchange_code(
        f"{eh_url}/oauth2/token",
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        code,
        verifier,
        clock=clock,
        **options,
    )


@pytest.fixture
def vault():
    return MemoryVault()


@pytest.fixture
def limiter(clock):
    return MemoryLimiter(clock)


@pytest.fixture
def calls():
    return CallLog()


@pytest.fixture
def connected(eh_url, http, clock, vault):
    """The tenant connected through the real consent flow; its first tokens."""
    verifier, challenge = make_pkce()
    tokens = exchange(eh_url, approve(eh_url, http, challenge), verifier, clock)
    vault.save(TENANT, tokens)
    return tokens


@pytest.fixture
def eh(eh_url, vault, limiter, clock, calls):
    made = []

    def make(**options):
        options.setdefault("recorder", calls)
        client = EHClient(
            TENANT,
            api_base=f"{eh_url}/api/v1",
            token_url=f"{eh_url}/oauth2/token",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            vault=vault,
            limiter=limiter,
            limiter_key=LIMITER_KEY,
            clock=clock,
            **options,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def refresh_calls(admin) -> int:
    """How many refresh_token grants EH was asked for."""
    return sum(1 for r in admin.requests() if r.get("token_kind") == "refresh_token")


def test_full_pkce_flow_connects(eh_url, http, clock, connected, eh):
    assert connected.expires_at == clock.now() + 900
    assert eh().user_info() == SERVICE_USER


def test_wrong_verifier_is_refused(eh_url, http, clock):
    _, challenge = make_pkce()
    code = approve(eh_url, http, challenge)
    with pytest.raises(PermanentError) as caught:
        exchange(eh_url, code, make_pkce()[0], clock)
    assert str(caught.value).startswith(
        "Employment Hero refused the authorisation code (HTTP 400, invalid_grant: "
    )


def test_a_code_works_once(eh_url, http, clock):
    verifier, challenge = make_pkce()
    code = approve(eh_url, http, challenge)
    exchange(eh_url, code, verifier, clock)
    with pytest.raises(PermanentError):
        exchange(eh_url, code, verifier, clock)


def test_refreshes_a_minute_before_expiry(connected, eh, vault, clock, admin):
    client = eh()
    clock.advance(900 - 61)
    client.user_info()
    assert vault.refreshes == 0
    clock.advance(2)  # now 59 s before expiry
    client.user_info()
    fresh = vault.load(TENANT)
    assert vault.refreshes == refresh_calls(admin) == 1
    assert fresh.access_token != connected.access_token
    assert fresh.expires_at == clock.now() + 900


def test_rotation_keeps_the_newest_refresh_token(connected, eh, vault, clock, eh_url):
    clock.advance(900)
    eh().user_info()
    fresh = vault.load(TENANT)
    assert fresh.refresh_token != connected.refresh_token
    with pytest.raises(NeedsReauthorisation):  # the sandbox retired the old one
        refresh_tokens(f"{eh_url}/oauth2/token", CLIENT_ID, CLIENT_SECRET, connected, clock=clock)


def test_a_401_refreshes_once_then_succeeds(connected, eh, vault, admin):
    admin.call("POST", "/expire_tokens")
    admin.clear_requests()
    assert eh().user_info()["id"] == SERVICE_USER["id"]
    assert vault.refreshes == 1
    assert [(r["path"], r["status"]) for r in admin.requests()] == [
        ("/api/v1/user_info", 401),
        ("/oauth2/token", 200),
        ("/api/v1/user_info", 200),
    ]


def test_a_second_401_is_not_retried_again(connected, eh, vault, admin):
    admin.fault("401", count=2, path="/api")
    with pytest.raises(PermanentError) as caught:
        eh().user_info()
    assert str(caught.value) == (
        "Employment Hero refused a freshly refreshed access token on user_info (HTTP 401)."
    )
    assert vault.refreshes == 1
    assert refresh_calls(admin) == 1


def test_invalid_grant_needs_reauthorisation(connected, eh, vault, clock, admin):
    admin.fault("invalid_grant", count=1, path="/oauth2/token")
    clock.advance(900)
    with pytest.raises(NeedsReauthorisation) as caught:
        eh().user_info()
    assert vault.reauth_reasons[TENANT] == str(caught.value)
    assert str(caught.value).startswith(
        "Employment Hero refused the stored refresh token (invalid_grant: "
    )
    assert vault.load(TENANT) == connected  # kept for the record; the vault marks it


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_token_endpoint_failure_keeps_the_tokens(connected, eh, vault, clock, admin, kind):
    admin.fault(kind, count=1, path="/oauth2/token")
    clock.advance(900)
    client = eh()
    with pytest.raises(TransientError):
        client.user_info()
    assert vault.load(TENANT) == connected
    assert vault.reauth_reasons == {}
    assert client.user_info()["id"] == SERVICE_USER["id"]  # the kept token still refreshes
    assert vault.refreshes == 1


def test_no_tokens_is_not_connected(eh):
    with pytest.raises(NotConnected):
        eh().user_info()


def test_lists_250_employees_in_three_calls(connected, eh, admin):
    people = [
        {"id": f"e-{n:03}", "first_name": f"P{n}", "organisation_id": ORG} for n in range(250)
    ]
    admin.call("POST", "/employees", people)
    admin.clear_requests()
    ids = [e["id"] for e in eh().iter_employees(ORG)]
    assert ids == [p["id"] for p in people]
    assert [r["path"].split("?")[0] for r in admin.requests()] == [
        f"/api/v1/organisations/{ORG}/employees",
    ] * 3


def test_single_objects(connected, eh, admin):
    team = {"id": "t-ops", "name": "Operations"}
    admin.call("POST", "/employees", {"id": "e-1", "first_name": "Priya", "teams": [team]})
    fields = [{"id": "cf-3", "name": "Badge Number", "type": "free_text", "value": "B-2231"}]
    admin.call("POST", "/custom_fields/e-1", fields)
    client = eh()
    assert client.get_employee(ORG, "e-1")["first_name"] == "Priya"
    assert client.get_employee(ORG, "nobody") is None
    assert client.custom_fields(ORG, "e-1") == fields
    assert client.organisation(ORG)["time_zone"] == "Australia/Sydney"
    assert [o["id"] for o in client.organisations()] == [ORG]
    assert client.teams(ORG) == [team]


def test_rate_limit_blocks_the_key(connected, eh, admin, limiter):
    admin.fault("429", count=1)
    with pytest.raises(RateLimited) as caught:
        eh().user_info()
    assert limiter.blocks == [(LIMITER_KEY, caught.value.retry_after)]
    with pytest.raises(RateLimited):
        eh().user_info()  # refused by our limiter; EH is not asked


def test_server_error_is_transient(connected, eh, admin):
    admin.fault("500", count=1, path="/api")
    with pytest.raises(TransientError) as caught:
        eh().user_info()
    assert (caught.value.service, caught.value.status) == ("eh", 500)


def test_nothing_recorded_holds_a_token(connected, eh, clock, calls, vault, limiter):
    client = eh()
    client.user_info()
    clock.advance(900)
    client.user_info()
    fresh = vault.load(TENANT)
    text = calls.text()
    for secret in (connected.access_token, connected.refresh_token, fresh.access_token):
        assert secret not in text
    assert fresh.refresh_token not in text
    assert CLIENT_SECRET not in text
    assert [(c["method"], c["path"], c["status"]) for c in calls.calls] == [
        ("GET", "/api/v1/user_info", 200),
        ("POST", "/oauth2/token", 200),
        ("GET", "/api/v1/user_info", 200),
    ]
    assert limiter.acquired[LIMITER_KEY] == 2


def test_concurrent_callers_share_one_refresh(connected, eh, vault, clock, admin):
    clock.advance(900)
    clients = [eh() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: c.user_info()["id"], clients))
    assert answers == [SERVICE_USER["id"]] * 4
    assert vault.refreshes == refresh_calls(admin) == 1
