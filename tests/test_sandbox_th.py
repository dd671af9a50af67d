"""The Tribal Habits sandbox keeps the contract (../shared/contracts/tribal-habits.md): the rest
of the suite trusts it, so it is checked here over real HTTP, on a ManualClock."""

from dataclasses import dataclass

import pytest
import requests
from flask import Flask

from sandboxes.serve import ServerHandle, start
from sandboxes.th import create_app
from thsync.core.clock import ManualClock

ACME_KEY, GLOBEX_KEY = "th-key-acme-0123456789", "th-key-globex-0123456789"
CUSTOM_FIELDS = {
    "Job Title": {"type": "text"},
    "Team": {"type": "list", "items": ["Warehouse", "Fleet", "Forklift Licensed"]},
    "Start Date": {"type": "date"},
    "Hours": {"type": "number"},
}
PORTALS = {
    ACME_KEY: {"name": "acme", "update_mode": "partial", "custom_fields": CUSTOM_FIELDS},
    GLOBEX_KEY: {"name": "globex", "update_mode": "replace", "custom_fields": CUSTOM_FIELDS},
}
START = 1_795_000_000.0
JANE = {
    "user_name": "EMP-1",
    "first_name": "Jane",
    "last_name": "Citizen",
    "email": "jane@acme.example",
}
SAM = {
    "user_name": "EMP-2",
    "first_name": "Sam",
    "last_name": "Manager",
    "email": "sam@acme.example",
}


@dataclass
class TH:
    app: Flask
    handle: ServerHandle
    http: requests.Session

    @property
    def url(self) -> str:
        return self.handle.url

    def call(self, method: str, path: str, body=None, key: str | None = ACME_KEY, **params):
        headers = {"Authorization": key} if key is not None else {}
        return self.http.request(
            method, f"{self.url}/papi{path}", json=body, params=params, headers=headers, timeout=10
        )

    def admin(self, method: str, path: str, body=None, **params):
        answer = self.http.request(
            method, f"{self.url}/_admin{path}", json=body, params=params, timeout=10
        )
        assert answer.status_code < 400, answer.text
        return answer.json()

    def users(self, portal: str = "acme") -> dict:
        return {u["user_name"]: u for u in self.admin("GET", "/users", portal=portal)}


@pytest.fixture
def clock():
    return ManualClock(start=START)


@pytest.fixture
def make_th(clock):
    made = []

    def make(**overrides) -> TH:
        app = create_app({"portals": PORTALS, "clock": clock, **overrides})
        box = TH(app, start(app), requests.Session())
        made.append(box)
        return box

    yield make
    for box in made:
        box.http.close()
        box.handle.stop()


@pytest.fixture
def th(make_th) -> TH:
    return make_th()


def refused(answer: requests.Response) -> tuple[int, dict]:
    return answer.status_code, answer.json()


# -- connection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", f"Bearer {ACME_KEY}", "not-a-key", ACME_KEY.upper()])
def test_only_the_raw_key_gets_in(th, key):
    assert refused(th.call("GET", "/users", key=key)) == (401, {"message": "invalid API key"})


def test_the_raw_key_gets_in(th):
    assert th.call("GET", "/users").status_code == 200


# -- users --------------------------------------------------------------------------------------


def test_create_then_get(th):
    sent = {**JANE, "user_name": " EMP-1 ", "email": " jane@acme.example", "X-Job Title": "Driver"}
    created = th.call("POST", "/users", sent)
    expected = {**JANE, "X-Job Title": "Driver", "active": True}
    assert (created.status_code, created.json()) == (201, expected)
    assert th.call("GET", "/users/EMP-1").json() == expected
    assert refused(th.call("GET", "/users/EMP-9")) == (404, {"message": "user 'EMP-9' not found"})


def test_users_are_per_portal(th):
    th.call("POST", "/users", JANE)
    assert th.call("GET", "/users/EMP-1", key=GLOBEX_KEY).status_code == 404
    assert th.call("POST", "/users", JANE, key=GLOBEX_KEY).status_code == 201


def test_partial_update_changes_only_the_keys_sent(th):
    th.call("POST", "/users", {**JANE, "X-Job Title": "Driver"})
    updated = th.call("PUT", "/users/EMP-1", {"first_name": "Janet", "active": False})
    assert updated.json() == {
        **JANE,
        "first_name": "Janet",
        "X-Job Title": "Driver",
        "active": False,
    }


def test_replace_update_replaces_the_whole_user(th):
    th.call("POST", "/users", {**JANE, "X-Job Title": "Driver"}, key=GLOBEX_KEY)
    body = {k: v for k, v in JANE.items() if k != "user_name"}
    updated = th.call("PUT", "/users/EMP-1", {**body, "first_name": "Janet"}, key=GLOBEX_KEY)
    assert updated.json() == {**JANE, "first_name": "Janet", "active": True}  # X-Job Title gone
    partial = th.call("PUT", "/users/EMP-1", {"first_name": "Jan"}, key=GLOBEX_KEY)
    assert refused(partial) == (422, {"message": "last_name is required"})


def test_users_cannot_be_deleted(th):
    th.call("POST", "/users", JANE)
    answer = th.call("DELETE", "/users/EMP-1")
    assert refused(answer) == (405, {"message": "users cannot be deleted; set active to false"})
    assert "EMP-1" in th.users()


def test_update_of_an_unknown_user_is_404(th):
    answer = th.call("PUT", "/users/EMP-9", {"first_name": "X"})
    assert refused(answer) == (404, {"message": "user 'EMP-9' not found"})


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_the_body_must_be_a_json_object(th, method):
    th.call("POST", "/users", JANE)
    path = "/users" if method == "POST" else "/users/EMP-1"
    answer = th.call(method, path, ["not", "an", "object"])
    assert refused(answer) == (400, {"message": "the body must be a JSON object"})


# -- validation ---------------------------------------------------------------------------------


def without(key: str) -> dict:
    return {k: v for k, v in JANE.items() if k != key}


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (without("user_name"), "user_name is required"),
        (without("first_name"), "first_name is required"),
        ({**JANE, "last_name": "  "}, "last_name is required"),
        (without("email"), "email is required"),
        (
            {**JANE, "email": "jane.acme.example"},
            "email 'jane.acme.example' is not a valid e-mail address",
        ),
        ({**JANE, "manager_email": "boss@"}, "manager_email 'boss@' is not a valid e-mail address"),
        ({**JANE, "active": "yes"}, "active must be true or false"),
        ({**JANE, "job_title": "Driver"}, "unknown field 'job_title'"),
        ({**JANE, "X-Shoe Size": "9"}, "custom field 'Shoe Size' does not exist in this portal"),
        (
            {**JANE, "X-Team": "Warehouse;Pirates"},
            "'Pirates' is not an item of the list field 'Team'",
        ),
        ({**JANE, "X-Team": "warehouse"}, "'warehouse' is not an item of the list field 'Team'"),
        (
            {**JANE, "X-Start Date": "2026/11/28"},
            "custom field 'Start Date' needs a date as dd/mm/yyyy or yyyy-mm-dd",
        ),
        (
            {**JANE, "X-Start Date": "31/02/2026"},
            "custom field 'Start Date' needs a date as dd/mm/yyyy or yyyy-mm-dd",
        ),
        ({**JANE, "X-Hours": "lots"}, "custom field 'Hours' needs a number"),
    ],
)
def test_validation_messages(th, user, message):
    assert refused(th.call("POST", "/users", user)) == (422, {"message": message})
    assert th.users() == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"X-Team": "Warehouse;Forklift Licensed"},
        {"X-Team": "Fleet"},
        {"X-Team": ""},
        {"X-Start Date": "28/11/2026"},
        {"X-Start Date": "2026-11-28"},
        {"X-Hours": 37.5},
        {"X-Hours": "38"},
        {"X-Job Title": None},
        {"manager_email": "boss@elsewhere.example", "active": False},
    ],
)
def test_valid_values_are_taken(th, fields):
    assert th.call("POST", "/users", {**JANE, **fields}).status_code == 201


def test_user_name_and_email_are_unique_trimmed_and_case_blind(th):
    assert th.call("POST", "/users", JANE).status_code == 201
    same_name = th.call("POST", "/users", {**SAM, "user_name": " emp-1 "})
    assert refused(same_name) == (422, {"message": "user_name ' emp-1 ' is already used"})
    same_email = th.call("POST", "/users", {**SAM, "email": " JANE@acme.example "})
    assert refused(same_email) == (
        422,
        {"message": "email 'jane@acme.example' is already used by another user"},
    )
    assert th.call("POST", "/users", SAM).status_code == 201
    taken = th.call("PUT", "/users/EMP-2", {"email": "Jane@Acme.example"})
    assert refused(taken) == (
        422,
        {"message": "email 'jane@acme.example' is already used by another user"},
    )
    assert th.call("PUT", "/users/EMP-1", {"email": "JANE@acme.example"}).status_code == 200


def test_user_name_never_changes(th):
    th.call("POST", "/users", JANE)
    renamed = th.call("PUT", "/users/EMP-1", {"user_name": "EMP-9"})
    assert refused(renamed) == (422, {"message": "user_name cannot be changed"})
    assert th.call("PUT", "/users/EMP-1", {"user_name": "EMP-1 ", "last_name": "C"}).ok


def test_updates_are_validated_too(th):
    th.call("POST", "/users", JANE)
    answer = th.call("PUT", "/users/EMP-1", {"X-Team": "Pirates"})
    assert refused(answer) == (
        422,
        {"message": "'Pirates' is not an item of the list field 'Team'"},
    )
    assert "X-Team" not in th.users()["EMP-1"]


# -- listing --------------------------------------------------------------------------------------


def test_lists_25_a_page_in_the_contract_shape(th):
    for n in range(30):
        user = {**JANE, "user_name": f"U{n:02}", "email": f"u{n}@acme.example"}
        th.admin("POST", "/users", {"portal": "acme", "user": user})
    first = th.call("GET", "/users").json()
    assert {k: v for k, v in first.items() if k != "records"} == {
        "total_records": 30,
        "max_per_page": 25,
        "current_page": 1,
        "total_pages": 2,
    }
    assert [u["user_name"] for u in first["records"]] == [f"U{n:02}" for n in range(25)]
    second = th.call("GET", "/users", page=2).json()
    assert ([u["user_name"] for u in second["records"]], second["current_page"]) == (
        [f"U{n:02}" for n in range(25, 30)],
        2,
    )
    assert th.call("GET", "/users", page=3).json()["records"] == []
    bad = th.call("GET", "/users", page="two")
    assert refused(bad) == (400, {"message": "page must be a whole number"})


def test_an_empty_portal_has_one_empty_page(th):
    assert th.call("GET", "/users").json() == {
        "total_records": 0,
        "max_per_page": 25,
        "current_page": 1,
        "total_pages": 1,
        "records": [],
    }


# -- invitations ----------------------------------------------------------------------------------


def test_an_invite_only_when_asked(th):
    th.call("POST", "/users", {**JANE, "send_invite": False})
    th.call("POST", "/users", {**SAM, "send_invite": True})
    assert th.admin("GET", "/invites") == ["EMP-2"]
    assert "send_invite" not in th.users()["EMP-2"]


# -- rate limit -----------------------------------------------------------------------------------


def test_300_a_minute_then_the_portal_is_blocked_for_60_seconds(th, clock):
    statuses = [th.call("GET", "/users").status_code for _ in range(300)]
    assert statuses == [200] * 300
    assert refused(th.call("GET", "/users")) == (
        429,
        {"message": "rate limit exceeded; portal blocked for 60 s"},
    )
    assert th.call("GET", "/users", key=GLOBEX_KEY).status_code == 200  # per portal
    clock.advance(59)
    assert refused(th.call("GET", "/users")) == (
        429,
        {"message": "rate limit exceeded; portal blocked"},
    )
    clock.advance(2)
    assert th.call("GET", "/users").status_code == 200


def test_the_window_slides_and_the_block_is_configurable(make_th, clock):
    th = make_th(rate_per_minute=5, block_seconds=10)
    for _ in range(5):
        assert th.call("GET", "/users").status_code == 200
        clock.advance(10)
    assert th.call("GET", "/users").status_code == 429  # five in the last 60 s
    assert th.call("POST", "/users", JANE).json() == {
        "message": "rate limit exceeded; portal blocked"
    }
    clock.advance(10)
    assert th.call("GET", "/users").status_code == 200  # the oldest call has left the window


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "429", "422"])
def test_status_faults(th, kind):
    th.admin("POST", "/faults", {"kind": kind, "count": 2, "method": "POST"})
    assert th.call("GET", "/users").status_code == 200
    for _ in range(2):
        answer = th.call("POST", "/users", JANE)
        assert refused(answer) == (int(kind), {"message": f"injected fault {kind}"})
    assert th.call("POST", "/users", JANE).status_code == 201


def test_drop_after_write_loses_the_answer_but_keeps_the_write(th):
    th.admin("POST", "/faults", {"kind": "drop_after_write", "method": "POST"})
    with pytest.raises(requests.ConnectionError):
        th.call("POST", "/users", JANE)
    assert th.users()["EMP-1"]["first_name"] == "Jane"
    assert th.call("GET", "/users/EMP-1").status_code == 200
    th.admin("POST", "/faults", {"kind": "drop_after_write", "path": "/papi/users/EMP-1"})
    with pytest.raises(requests.ConnectionError):
        th.call("PUT", "/users/EMP-1", {"first_name": "Janet"})
    assert th.users()["EMP-1"]["first_name"] == "Janet"
    assert [(r["method"], r["status"], r.get("dropped")) for r in th.admin("GET", "/requests")] == [
        ("POST", None, True),
        ("GET", 200, None),
        ("PUT", None, True),
    ]


def test_a_refused_write_is_not_dropped(th):
    th.admin("POST", "/faults", {"kind": "drop_after_write"})
    assert th.call("POST", "/users", without("email")).status_code == 422
    with pytest.raises(requests.ConnectionError):
        th.call("POST", "/users", JANE)  # the fault waited for a write that happened


def test_drop_hangs_up_before_writing(th):
    th.admin("POST", "/faults", {"kind": "drop"})
    with pytest.raises(requests.ConnectionError):
        th.call("POST", "/users", JANE)
    assert th.users() == {}
    [logged] = th.admin("GET", "/requests")
    assert (logged["status"], logged["dropped"], logged["body"]) == (None, True, JANE)


def test_slow_answers_late(th):
    th.admin("POST", "/faults", {"kind": "slow", "delay": 0.2})
    with pytest.raises(requests.ReadTimeout):
        th.http.get(f"{th.url}/papi/users", headers={"Authorization": ACME_KEY}, timeout=0.05)


def test_faults_must_be_known_and_can_be_cleared(th):
    answer = th.http.post(f"{th.url}/_admin/faults", json={"kind": "invalid_grant"}, timeout=10)
    assert refused(answer) == (
        400,
        {
            "message": "unknown fault kind 'invalid_grant'; "
            "one of: 500, 429, 422, slow, drop, drop_after_write"
        },
    )
    th.admin("POST", "/faults", {"kind": "500", "count": 3})
    th.admin("DELETE", "/faults")
    assert th.call("GET", "/users").status_code == 200


# -- admin ------------------------------------------------------------------------------------


def test_request_log_keeps_bodies(th, clock):
    th.call("POST", "/users", JANE)
    clock.advance(3)
    th.call("GET", "/users", page=2)
    th.call("GET", "/users", key="wrong")
    assert th.admin("GET", "/requests") == [
        {
            "time": START,
            "method": "POST",
            "path": "/papi/users",
            "status": 201,
            "portal": "acme",
            "body": JANE,
        },
        {
            "time": START + 3,
            "method": "GET",
            "path": "/papi/users?page=2",
            "status": 200,
            "portal": "acme",
            "body": None,
        },
        {
            "time": START + 3,
            "method": "GET",
            "path": "/papi/users",
            "status": 401,
            "portal": None,
            "body": None,
        },
    ]
    th.admin("DELETE", "/requests")
    assert th.admin("GET", "/requests") == []


def test_admin_users_with_their_history_of_writes(th, clock):
    th.admin("POST", "/users", {"portal": "acme", "user": SAM})
    th.call("POST", "/users", JANE)
    clock.advance(1)
    th.call("PUT", "/users/EMP-1", {"active": False})
    assert [u["user_name"] for u in th.admin("GET", "/users", portal="acme")] == ["EMP-2", "EMP-1"]
    assert th.admin("GET", "/users", portal="globex") == []
    jane = th.admin("GET", "/users", portal="acme", history="1")[1]
    assert jane["_writes"] == [
        {"time": START, "method": "POST", "body": JANE},
        {"time": START + 1, "method": "PUT", "body": {"active": False}},
    ]
    missing = th.http.get(f"{th.url}/_admin/users", params={"portal": "nope"}, timeout=10)
    assert refused(missing) == (404, {"message": "no portal nope"})
    bad = th.http.post(f"{th.url}/_admin/users", json={"portal": "acme", "user": {}}, timeout=10)
    assert refused(bad) == (400, {"message": "send {portal, user} with the user's user_name"})


def test_reset_empties_the_portals(th):
    th.call("POST", "/users", JANE)
    th.admin("POST", "/reset")
    assert th.users() == {}
    assert th.admin("GET", "/requests") == []
