"""The Tribal Habits client: pure comparison rules first, then real HTTP against the sandbox."""

import pytest

from tests.fixtures_clients import MemoryLimiter
from thsync.errors import ConfigError
from thsync.th_client import THClient, diff_user, normalise_user, same_value

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
