"""One decision value through a job: the engine's Decision, serialised once; a stop is a typed
value with its outcome; a failure carries the decision as a field of its error class."""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from thsync.core.errors import (
    DomainError,
    PermanentError,
    SyncError,
    TransientError,
    UnknownMode,
)
from thsync.people.lifecycle import Stop, StopKind
from thsync.people.modes import set_mode
from thsync.rules.engine import Decision
from thsync.store.states import Outcome

DECISION = Decision(
    action="upsert",
    rule="new-people",
    reason="new person",
    extracted={"first_name": "Jo"},
    payload={"user_name": "jo", "first_name": "Jo"},
    create_only=frozenset({"user_name", "active"}),
    trace=[{"rule": "new-people", "file": "rules/x.yaml", "line": 3, "matched": True}],
)


def test_a_decision_serialises_with_the_keys_jobs_have_always_kept():
    assert DECISION.as_dict() == {
        "action": "upsert",
        "rule": "new-people",
        "reason": "new person",
        "extracted": {"first_name": "Jo"},
        "payload": {"user_name": "jo", "first_name": "Jo"},
        "create_only": ["active", "user_name"],
        "problems": [],
        "trace": DECISION.trace,
    }


def test_changes_are_kept_once_the_write_was_made_even_when_empty():
    changed = replace(DECISION, changes={"email": {"before": "a", "after": "b"}})
    assert changed.as_dict()["changes"] == {"email": {"before": "a", "after": "b"}}
    assert list(replace(DECISION, changes={}).as_dict())[-1] == "changes"
    assert "changes" not in DECISION.as_dict()


@pytest.mark.parametrize(
    ("stop", "outcome", "message"),
    [
        (
            Stop(StopKind.HELD, "user_name would change", 7),
            Outcome.HELD,
            "held (#7): user_name would change",
        ),
        (
            Stop(StopKind.SWITCHED_OFF, "create is switched off"),
            Outcome.SWITCHED_OFF,
            "create is switched off",
        ),
    ],
)
def test_a_stop_names_its_outcome_and_the_jobs_reason(stop, outcome, message):
    assert (stop.outcome, stop.message) == (outcome, message)


def test_a_sync_error_carries_the_decision_it_stopped():
    assert PermanentError("refused", decision={"rule": "r"}).decision == {"rule": "r"}
    error = TransientError("timeout")
    assert error.decision is None
    assert error.with_decision({"rule": "r"}) is error
    assert error.decision == {"rule": "r"}
    assert not hasattr(KeyError("x"), "decision")  # a crash is no SyncError: it has none
    assert issubclass(TransientError, SyncError)


def test_domain_errors_are_their_own_kind_with_their_docstring_as_message():
    assert str(UnknownMode()) == "A tenant's mode is shadow, live or paused."
    assert issubclass(UnknownMode, DomainError)
    assert not issubclass(DomainError, LookupError | ValueError)


def test_an_unknown_mode_is_a_domain_error(app):
    tenant = SimpleNamespace(id="acme")
    with pytest.raises(UnknownMode, match="mode must be one of shadow, live, paused, not 'asleep'"):
        set_mode(app.extensions["thsync"], tenant, "asleep", "support")
