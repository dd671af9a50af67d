"""The judging of one person in a reconciliation, for source records without an id (the source
protocol allows them): none is judged, and none stands in as a manager-less person's manager."""

from types import SimpleNamespace

from thsync.people import judging
from thsync.people.reconcile import LISTS
from thsync.rules.engine import Decision
from thsync.sources.base import SourcePerson

NO_ID = {"first_name": "Nobody"}  # a source record without an id


def a_run(records: dict) -> SimpleNamespace:
    return SimpleNamespace(
        report={name: [] for name in LISTS},
        source=SimpleNamespace(label="Employment Hero"),
        by_id=records,
        ruleset=None,
        tenant=None,
        now=None,
    )


def test_a_record_without_an_id_is_skipped_not_judged(monkeypatch):
    monkeypatch.setattr(judging, "decide_events", lambda *args: 1 / 0)  # never reached
    run = a_run({None: NO_ID})
    judging.judge(run, NO_ID, SourcePerson(id=None, name="Nobody"), None)
    assert run.report["skipped"] == [
        {
            "employee_id": None,
            "name": "Nobody",
            "reason": "the Employment Hero record has no id",
        }
    ]


def test_a_person_without_a_manager_is_not_given_a_record_without_an_id(monkeypatch):
    managers = []

    def decide_events(ruleset, tenant, event, types, employee, manager, custom, now):
        managers.append(manager)
        return Decision("skip", None, "", {}, None, frozenset(), [], ["stop here"])

    monkeypatch.setattr(judging, "decide_events", decide_events)
    run = a_run({None: NO_ID, "e1": {"id": "e1"}})
    judging.judge(run, {"id": "e1"}, SourcePerson(id="e1", manager_id=None, name="One"), None)
    assert managers == [None]
    assert run.report["skipped"][0]["reason"] == "stop here"
