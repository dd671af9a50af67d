"""The Tribal Habits client: pure comparison rules first, then real HTTP against the sandbox."""

import time

import pytest
import requests

from tests.fixtures_clients import Admin, CallLog, MemoryLimiter, serving
from thsync.core.clock import ManualClock
from thsync.core.errors import ConfigError, PermanentError, RateLimited, TransientError
from thsync.tribal_habits.client import THClient, UpsertResult, _excerpt, _is_user_name_clash
from thsync.tribal_habits.shadow import ShadowTHClient
from thsync.tribal_habits.user import diff_user, normalise_user, same_value

# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, expected",
    [
        (
            {"user_name": "  EMP-1 ", "email": " Jane@ACME.example ", "first_name": " Jane "},
            {"user_name": "EMP-1", "email": "jane@acme.example", "first_name": " Jane "},
        ),
        ({"manager_email": "\tBoss@Acme.Example\n"}, {"manager_email": "boss@acme.example"}),
        ({"email": None, "manager_email": ""}, {"email": None, "manager_email": ""}),
        ({"X-Team": "A;B", "active": True}, {"X-Team": "A;B", "active": True}),
    ],
)
def test_normalise_user(given, expected):
    assert normalise_user(given) == expected


def test_normalise_user_leaves_its_argument_alone():
    given = {"email": "A@B.C "}
    normalise_user(given)
    assert given == {"email": "A@B.C "}


@pytest.mark.parametrize(
    "before, after, same",
    [
        ("Jane", "Jane", True),
        ("Jane", "jane", False),
        (None, "", True),  # TH's null is our ""
        ("", None, True),
        (None, None, True),
        ("x", "", False),
        ("", "x", False),
        ("42", 42, True),  # compared as text
        (42, "42", True),
        (True, True, True),
        (False, False, True),
        (None, True, False),  # a missing `active` is not true
        (None, False, False),
        ("true", True, False),  # booleans strictly
        (1, True, False),
        (True, 1, False),
        (0, False, False),
        (["a"], ["a"], True),
        (["a"], "a", False),
    ],
)
def test_same_value(before, after, same):
    assert same_value(before, after) is same


@pytest.mark.parametrize(
    "current, desired, changes",
    [
        ({"first_name": "Jane"}, {"first_name": "Jane"}, {}),
        (
            {"first_name": "Jane"},
            {"first_name": "Janet"},
            {"first_name": {"before": "Jane", "after": "Janet"}},
        ),
        ({}, {"X-Location": ""}, {}),  # missing == "" when we send ""
        ({"X-Location": None}, {"X-Location": ""}, {}),
        (
            {"X-Location": "Sydney"},
            {"X-Location": ""},
            {"X-Location": {"before": "Sydney", "after": ""}},
        ),
        ({"email": "Jane@Acme.example"}, {"email": "jane@acme.example"}, {}),  # TH's case
        ({"active": True, "first_name": "A"}, {"active": True}, {}),  # only desired keys count
        ({"active": False}, {"active": True}, {"active": {"before": False, "after": True}}),
        ({}, {"active": True}, {"active": {"before": None, "after": True}}),
    ],
)
def test_diff_user(current, desired, changes):
    assert diff_user(current, desired) == changes


@pytest.fixture
def offline_client():
    """A client whose bodies can be inspected without a server (nothing is sent)."""

    def make(**options):
        client = THClient("http://th.invalid/papi", "k", limiter=None, limiter_key="th", **options)
        made.append(client)
        return client

    made = []
    yield make
    for client in made:
        client.close()


CURRENT = {
    "id": 7,
    "user_name": "EMP-1",
    "first_name": "Jane",
    "last_name": "Citizen",
    "email": "jane@acme.example",
    "active": True,
    "created_at": "2026-01-01",
}


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("partial", {"first_name": "Janet"}),
        (
            "replace",
            {
                "user_name": "EMP-1",
                "first_name": "Janet",
                "last_name": "Citizen",
                "email": "jane@acme.example",
                "active": True,
            },
        ),
    ],
)
def test_update_body_by_mode(offline_client, mode, expected):
    client = offline_client(update_mode=mode)
    assert client._update_body(CURRENT, {"first_name": "Janet"}) == expected


@pytest.mark.parametrize(
    "send_invite, payload, expected",
    [
        (
            False,
            {"user_name": "E1", "first_name": "A", "manager_email": "", "X-Team": None},
            {"user_name": "E1", "first_name": "A", "send_invite": False},
        ),
        (True, {"user_name": "E1"}, {"user_name": "E1", "send_invite": True}),
    ],
)
def test_create_body_leaves_out_empty_values(offline_client, send_invite, payload, expected):
    assert offline_client(send_invite=send_invite)._create_body(payload) == expected


@pytest.mark.parametrize(
    "body, excerpt",
    [
        ('{"message": "bad key secret-key"}', '{"message": "bad key [api key]"}'),
        ("z" * 497 + "secret-key", "z" * 497 + "[ap"),
        ("z" * 600, "z" * 500),
    ],
)
def test_excerpt_never_holds_the_api_key(body, excerpt):
    response = requests.Response()
    response._content = body.encode()
    headers = {"Authorization": "secret-key"}
    response.request = requests.Request("GET", "http://th.invalid/", headers=headers).prepare()
    assert _excerpt(response) == excerpt


def test_unknown_update_mode_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        THClient("http://th.invalid", "k", limiter=None, limiter_key="th", update_mode="merge")
    assert str(caught.value) == "update_mode must be partial or replace, not 'merge'"


def test_memory_limiter_blocks(clock):
    limiter = MemoryLimiter(clock)
    limiter.block("th:acme", 60)
    assert limiter.is_blocked("th:acme")
    clock.advance(61)
    assert not limiter.is_blocked("th:acme")


# -- over HTTP against the sandbox -----------------------------------------------------------

API_KEY = "th-test-key-acme-6f1d2c"
REPLACE_KEY = "th-test-key-replace-93ab0e"
CUSTOM_FIELDS = {
    "Job Title": {"type": "text"},
    "Location": {"type": "text"},
    "Team": {"type": "list", "items": ["Operations", "Warehouse"]},
}
PORTALS = {
    API_KEY: {"name": "acme", "update_mode": "partial", "custom_fields": CUSTOM_FIELDS},
    REPLACE_KEY: {"name": "globex", "update_mode": "replace", "custom_fields": CUSTOM_FIELDS},
}
JANE = {
    "user_name": "EMP-0042",
    "first_name": "Jane",
    "last_name": "Citizen",
    "email": "jane.citizen@acme.example",
    "manager_email": "sam.manager@acme.example",
    "active": True,
    "X-Job Title": "Support Worker",
    "X-Location": "Melbourne",
}


@pytest.fixture(scope="module")
def sandbox_clock():
    return ManualClock(start=1_795_000_000.0)


@pytest.fixture
def clock(sandbox_clock):
    """One sandbox serves the whole module (starting one costs half a second), so the clock
    it was built with is every test's clock."""
    return sandbox_clock


@pytest.fixture(scope="module")
def th_sandbox(sandbox_clock):
    from sandboxes.th import create_app

    with serving(create_app({"portals": PORTALS, "clock": sandbox_clock})) as url:
        admin = Admin(url)
        yield admin
        admin.close()


@pytest.fixture
def admin(th_sandbox):
    """The sandbox's admin API, with the sandbox reset to empty portals."""
    th_sandbox.call("POST", "/reset")
    return th_sandbox


@pytest.fixture
def th_url(admin):
    return admin.base_url


@pytest.fixture
def limiter(clock):
    return MemoryLimiter(clock)


@pytest.fixture
def calls():
    return CallLog()


@pytest.fixture
def th(th_url, limiter, calls):
    """A client for the "acme" portal (partial updates); th(key=…, **options) for others."""
    made = []

    def make(key=API_KEY, **options):
        options.setdefault("recorder", calls)
        client = THClient(f"{th_url}/papi", key, limiter=limiter, limiter_key="th:acme", **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def writes(admin) -> list[tuple[str, str, dict]]:
    """(method, path, body) of every write the sandbox received."""
    return [
        (r["method"], r["path"], r.get("body"))
        for r in admin.requests()
        if r["method"] in ("POST", "PUT")
    ]


def portal_users(admin, portal="acme") -> list[dict]:
    return admin.call("GET", "/users", portal=portal)


def test_creates_a_new_user_without_an_invite(th, admin):
    result = th().upsert({**JANE, "email": " Jane.Citizen@ACME.example "})
    assert result.action == "created"
    assert result.sent == {**JANE, "send_invite": False}
    assert result.user["email"] == "jane.citizen@acme.example"
    assert result.changes["first_name"] == {"before": None, "after": "Jane"}
    assert [m for m, _, _ in writes(admin)] == ["POST"]


def test_unchanged_user_costs_no_write(th, admin):
    client = th()
    client.upsert(JANE)
    admin.clear_requests()
    result = client.upsert({**JANE, "email": "JANE.citizen@acme.example", "X-Team": ""})
    assert (result.action, result.changes, result.sent) == ("unchanged", {}, None)
    assert [r["method"] for r in admin.requests()] == ["GET"]


def test_one_changed_field_sends_only_that_key(th, admin):
    client = th()
    client.upsert(JANE)
    admin.clear_requests()
    result = client.upsert({**JANE, "X-Location": "Geelong"})
    assert result.action == "updated"
    assert result.changes == {"X-Location": {"before": "Melbourne", "after": "Geelong"}}
    assert writes(admin) == [("PUT", "/papi/users/EMP-0042", {"X-Location": "Geelong"})]
    assert result.user["X-Location"] == "Geelong"
    assert result.user["first_name"] == "Jane"


def test_create_only_keys_are_never_updated(th, admin):
    client = th()
    client.upsert({**JANE, "X-Job Title": "Trainee"}, frozenset({"user_name", "X-Job Title"}))
    admin.clear_requests()
    result = client.upsert({**JANE, "X-Job Title": "Lead"}, frozenset({"user_name", "X-Job Title"}))
    assert result.action == "unchanged"
    assert writes(admin) == []


def test_replace_mode_resends_the_whole_user(th, admin):
    client = th(REPLACE_KEY, update_mode="replace")
    client.upsert(JANE)
    admin.clear_requests()
    result = client.upsert({**JANE, "first_name": "Janet"})
    assert result.action == "updated"
    [(method, _, body)] = writes(admin)
    assert method == "PUT"
    assert body == {**JANE, "first_name": "Janet"}
    assert result.user == {**result.user, **JANE, "first_name": "Janet"}


def test_deactivate_then_reactivate(th, admin):
    client = th()
    client.upsert(JANE)
    result = client.deactivate("EMP-0042")
    assert (result.action, result.sent) == ("deactivated", {"active": False})
    assert result.changes == {"active": {"before": True, "after": False}}
    admin.clear_requests()
    assert client.deactivate("EMP-0042").action == "already_inactive"
    assert writes(admin) == []
    rehired = client.upsert(JANE)
    assert (rehired.action, rehired.sent) == ("updated", {"active": True})
    assert rehired.user["active"] is True


@pytest.mark.parametrize("method", ["upsert", "deactivate"])
def test_absent_user_is_not_created(th, admin, method):
    client = th()
    if method == "upsert":
        result = client.upsert(JANE, allow_create=False)
    else:
        result = client.deactivate("EMP-0042")
    assert result == UpsertResult("absent")
    assert writes(admin) == []


def test_email_held_by_another_user_is_a_permanent_error(th, admin):
    client = th()
    client.upsert(JANE)
    with pytest.raises(PermanentError) as caught:
        client.upsert({**JANE, "user_name": "EMP-0099", "email": "JANE.CITIZEN@acme.example "})
    assert str(caught.value).startswith(
        "The e-mail jane.citizen@acme.example already belongs to another Tribal Habits user, "
        "so EMP-0099 cannot be created"
    )
    assert caught.value.status == 422
    assert len(portal_users(admin)) == 1


def test_other_validation_errors_carry_tribal_habits_message(th):
    with pytest.raises(PermanentError) as caught:
        th().upsert({**JANE, "X-Shoe Size": "9"})
    assert str(caught.value).startswith("Tribal Habits refused to create EMP-0042: ")
    assert "Shoe Size" in str(caught.value)


def test_update_of_a_missing_user_is_a_permanent_error(th):
    with pytest.raises(PermanentError) as caught:
        th().update_user("EMP-0404", {"first_name": "X"}, {})
    assert str(caught.value) == "Tribal Habits has no user 'EMP-0404' to update."


def test_server_error_is_transient(th, admin):
    admin.fault("500", count=1)
    with pytest.raises(TransientError) as caught:
        th().upsert(JANE)
    assert (caught.value.service, caught.value.status) == ("th", 500)
    assert th().upsert(JANE).action == "created"


def test_timeout_is_transient(th, admin):
    admin.fault("slow", count=1, delay=0.5)
    with pytest.raises(TransientError) as caught:
        th(timeout=0.1).get_user("EMP-0042")
    assert "ReadTimeout" in str(caught.value)
    deadline = time.monotonic() + 5
    while not admin.requests() and time.monotonic() < deadline:
        time.sleep(0.05)  # let the slow request finish before the next test resets the sandbox


@pytest.mark.parametrize("send_invite, invites", [(False, []), (True, ["EMP-0042"])])
def test_invitation_only_when_the_tenant_asks(th, admin, send_invite, invites):
    th(send_invite=send_invite).upsert(JANE)
    assert admin.call("GET", "/invites") == invites


def test_rate_limit_blocks_the_portal_for_a_minute(th, admin, limiter):
    admin.fault("429", count=1)
    with pytest.raises(RateLimited) as caught:
        th().upsert(JANE)
    assert caught.value.retry_after == 60
    assert limiter.blocks == [("th:acme", 60)]
    with pytest.raises(RateLimited):
        th().get_user("EMP-0042")  # blocked here, before any request is sent


def test_rejected_key_is_a_permanent_error(th):
    with pytest.raises(PermanentError) as caught:
        th("not-a-key").get_user("EMP-0042")
    assert str(caught.value) == (
        "Tribal Habits rejected the API key (HTTP 401): a Super Admin finds the current key "
        "under Admin → Account → Integrations."
    )


def test_retry_after_a_lost_response_creates_exactly_one_user(th, admin):
    client = th()
    admin.fault("drop_after_write", count=1, method="POST")
    with pytest.raises(TransientError):
        client.upsert(JANE)
    assert client.upsert(JANE).action == "unchanged"
    assert [u["user_name"] for u in portal_users(admin)] == ["EMP-0042"]


def test_iter_users_reads_every_page(th, admin):
    for n in range(30):
        user = {**JANE, "user_name": f"EMP-{n:04}", "email": f"p{n}@acme.example"}
        admin.call("POST", "/users", {"portal": "acme", "user": user})
    admin.clear_requests()
    names = [user["user_name"] for user in th().iter_users()]
    assert sorted(names) == [f"EMP-{n:04}" for n in range(30)]
    assert [(r["method"], r["path"].split("?")[0]) for r in admin.requests()] == [
        ("GET", "/papi/users")
    ] * 2


def test_every_call_is_recorded_without_the_key(th, admin, calls, limiter):
    client = th()
    client.upsert(JANE)
    client.upsert({**JANE, "first_name": "Janet"})
    assert [(c["method"], c["path"], c["status"]) for c in calls.calls] == [
        ("GET", "/papi/users/EMP-0042", 404),
        ("POST", "/papi/users", 201),
        ("GET", "/papi/users/EMP-0042", 200),
        ("PUT", "/papi/users/EMP-0042", 200),
    ]
    assert all(c["service"] == "th" and c["duration_ms"] >= 0 for c in calls.calls)
    assert API_KEY not in calls.text()
    assert API_KEY not in repr([r.get("body") for r in admin.requests()])
    assert limiter.acquired["th:acme"] == 4


# -- a create without a look-up first --------------------------------------------------------


def sandbox_calls(admin) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in admin.requests()]


def test_known_absent_user_costs_one_call(th, admin, limiter):
    result = th().upsert(JANE, known_absent=True)
    assert (result.action, result.sent) == ("created", {**JANE, "send_invite": False})
    assert sandbox_calls(admin) == [("POST", "/papi/users")]
    assert limiter.acquired["th:acme"] == 1
    assert [u["user_name"] for u in portal_users(admin)] == ["EMP-0042"]


def test_known_absent_user_who_exists_is_updated_not_duplicated(th, admin):
    admin.call("POST", "/users", {"portal": "acme", "user": {**JANE, "first_name": "Janey"}})
    admin.clear_requests()
    result = th().upsert(JANE, known_absent=True)
    assert result.action == "updated"
    assert result.changes == {"first_name": {"before": "Janey", "after": "Jane"}}
    assert result.sent == {"first_name": "Jane"}  # only the changed key
    assert sandbox_calls(admin) == [
        ("POST", "/papi/users"),
        ("GET", "/papi/users/EMP-0042"),
        ("PUT", "/papi/users/EMP-0042"),
    ]
    [user] = portal_users(admin)
    assert (user["user_name"], user["first_name"]) == ("EMP-0042", "Jane")


def test_known_absent_user_who_exists_unchanged_costs_no_write(th, admin):
    admin.call("POST", "/users", {"portal": "acme", "user": JANE})
    admin.clear_requests()
    result = th().upsert(JANE, known_absent=True)
    assert (result.action, result.sent) == ("unchanged", None)
    assert sandbox_calls(admin) == [("POST", "/papi/users"), ("GET", "/papi/users/EMP-0042")]
    assert len(portal_users(admin)) == 1


def test_known_absent_retry_after_a_lost_response_creates_exactly_one_user(th, admin):
    client = th()
    admin.fault("drop_after_write", count=1, method="POST")
    with pytest.raises(TransientError):
        client.upsert(JANE, known_absent=True)
    assert client.upsert(JANE, known_absent=True).action == "unchanged"
    assert [u["user_name"] for u in portal_users(admin)] == ["EMP-0042"]


def test_known_absent_create_only_keys_stay_as_they_are(th, admin):
    admin.call("POST", "/users", {"portal": "acme", "user": {**JANE, "first_name": "Janey"}})
    result = th().upsert(JANE, frozenset({"user_name", "first_name"}), known_absent=True)
    assert result.action == "unchanged"
    assert portal_users(admin)[0]["first_name"] == "Janey"


def test_known_absent_email_clash_is_still_a_permanent_error(th, admin):
    admin.call("POST", "/users", {"portal": "acme", "user": {**JANE, "user_name": "EMP-9"}})
    admin.clear_requests()
    with pytest.raises(PermanentError, match="already belongs to another Tribal Habits user"):
        th().upsert(JANE, known_absent=True)
    assert sandbox_calls(admin) == [("POST", "/papi/users")]  # no fallback for another's e-mail


def test_known_absent_without_allow_create_looks_up_only(th, admin):
    assert th().upsert(JANE, allow_create=False, known_absent=True).action == "absent"
    assert sandbox_calls(admin) == [("GET", "/papi/users/EMP-0042")]


@pytest.mark.parametrize(
    "message, user_name, taken",
    [
        ("user_name 'EMP-1' is already used", "EMP-1", True),
        ("Username already exists", "EMP-1", True),
        ("The user name has already been taken", "EMP-1", True),
        ("user_name 'jane@acme.example' is already used", "jane@acme.example", True),
        ("email already used", "EMP-1", False),
        ("The email jane@acme.example is already taken by user_name EMP-9", "EMP-1", False),
        ("user_name is required", "EMP-1", False),
        ("X-Team: 'Finance' is not an item of the list", "EMP-1", False),
        ("user_name 'already-taken' is not valid", "already-taken", False),
    ],
)
def test_user_name_clash_is_read_from_the_message(message, user_name, taken):
    assert _is_user_name_clash(message, user_name) is taken


@pytest.fixture
def shadow(th_url, limiter, calls):
    client = ShadowTHClient(
        f"{th_url}/papi", API_KEY, limiter=limiter, limiter_key="th:acme", recorder=calls
    )
    yield client
    client.close()


def test_shadow_looks_up_a_known_absent_user_and_sends_no_write(shadow, admin, calls):
    result = shadow.upsert(JANE, known_absent=True)
    assert (result.action, result.user) == ("would_create", None)
    assert sandbox_calls(admin) == [("GET", "/papi/users/EMP-0042")]
    assert [(c["method"], c["status"]) for c in calls.calls] == [("GET", 404), ("POST", None)]
    assert portal_users(admin) == []


def test_shadow_tells_a_known_absent_user_who_exists_would_be_updated(shadow, admin):
    admin.call("POST", "/users", {"portal": "acme", "user": {**JANE, "first_name": "Janey"}})
    admin.clear_requests()
    result = shadow.upsert(JANE, known_absent=True)
    assert result.action == "would_update"
    assert result.sent == {"first_name": "Jane"}
    assert sandbox_calls(admin) == [("GET", "/papi/users/EMP-0042")]
    assert portal_users(admin)[0]["first_name"] == "Janey"
