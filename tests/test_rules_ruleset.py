"""What the worker and the intake use from a loaded RuleSet, and how tenant files merge."""

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from thsync.rules.engine import build_context, evaluate
from thsync.rules.ruleset import check_files, load_ruleset

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
WEBHOOK = json.loads((TESTS / "data" / "eh" / "webhook-employee-created.json").read_text())
NOW = datetime.fromisoformat("2026-11-28T10:00:00+11:00")


def rules_with(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(REPO / "rules" / "standard.yaml", folder / "standard.yaml")
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_a_tenant_without_a_file_gets_the_standard_rules(tmp_path):
    ruleset = load_ruleset(rules_with(tmp_path), "newco")
    assert ruleset.tenant_id == "newco"
    assert ruleset.files == [tmp_path / "rules" / "standard.yaml"]
    assert [rule.name for rule in ruleset.rules] == [
        "contractors",
        "rehires",
        "leavers",
        "new-people",
        "updates",
    ]
    assert ruleset.options == {
        "create_on": "employee_created",
        "include_contractors": False,
        "user_name_from": "id",
        "create_on_start_date": False,
        "create_days_before_start": 0,
        "deactivate_at_end_of_last_day": False,
        "allow_create": True,
        "allow_update": True,
        "allow_deactivate": True,
        "reconcile_every_hours": 24,
        "reconcile_at_hour": 2,
        "unknown_users": "report",
        "mass_deactivation_percent": 10,
        "mass_deactivation_min": 5,
    }


def test_a_tenant_file_lists_every_file_read(tmp_path):
    folder = rules_with(tmp_path, acme="extends: standard\noptions:\n  create_on: active\n")
    ruleset = load_ruleset(folder, "acme")
    assert ruleset.files == [folder / "standard.yaml", folder / "acme.yaml"]
    assert ruleset.options["create_on"] == "active"


def test_read_intake_with_the_default_expressions(tmp_path):
    ruleset = load_ruleset(rules_with(tmp_path), "acme")
    assert ruleset.read_intake(WEBHOOK) == {
        "event_type": "employee_created",
        "event_id": "evt_employee_created_101",
        "employee_id": "a1e2c3d4-0000-4000-8000-000000000101",
        "organisation_id": "5b0f3c1e-8a2d-4f6b-9c3e-1d2a3b4c5d6e",
    }
    assert ruleset.intake_source("employee_id") == "data.id"


def test_intake_overridden_per_key(tmp_path):
    tenant = "extends: standard\nintake:\n  employee_id: data.employee.uuid\n"
    ruleset = load_ruleset(rules_with(tmp_path, acme=tenant), "acme")
    body = {"event": "employee_updated", "data": {"employee": {"uuid": "e-1"}}}
    assert ruleset.read_intake(body)["employee_id"] == "e-1"
    assert ruleset.read_intake(body)["event_type"] == "employee_updated"
    assert ruleset.intake_source("employee_id") == "data.employee.uuid"


@pytest.mark.parametrize("body", [[], "text", {"data": "x"}, {"data": {"id": [1]}}])
def test_read_intake_of_odd_bodies_never_raises(tmp_path, body):
    ruleset = load_ruleset(rules_with(tmp_path), "acme")
    assert set(ruleset.read_intake(body)) == {
        "event_type",
        "event_id",
        "employee_id",
        "organisation_id",
    }


FETCH_BASE = """\
events: [employee_created, employee_updated, ping]
intake: {event_type: event, event_id: event_id, employee_id: data.id, organisation_id: o}
payload:
  user_name: "{{ employee.id }}"
rules:
  from-body:
    triggers: [ping]
    fetch: none
    action: skip
    reason: pings carry everything
  created:
    triggers: [employee_created]
    fetch: {custom_fields: true}
    action: upsert
  updated:
    triggers: [employee_updated]
    fetch: {manager: false}
    action: update
  off:
    enabled: false
    triggers: ["*"]
    fetch: {custom_fields: true}
    action: skip
    reason: never
"""


@pytest.mark.parametrize(
    ("event_type", "wanted"),
    [
        ("ping", {"employee": False, "manager": False, "custom_fields": False}),
        ("employee_created", {"employee": True, "manager": True, "custom_fields": True}),
        ("employee_updated", {"employee": True, "manager": False, "custom_fields": False}),
        ("employee_deleted", {"employee": False, "manager": False, "custom_fields": False}),
    ],
)
def test_fetch_for_is_the_union_over_enabled_rules_listening(tmp_path, event_type, wanted):
    folder = rules_with(tmp_path, base=FETCH_BASE)
    assert load_ruleset(folder, "base").fetch_for(event_type) == wanted


def test_fetch_defaults_merge_per_key(tmp_path):
    tenant = "extends: standard\nfetch:\n  custom_fields: true\n"
    ruleset = load_ruleset(rules_with(tmp_path, acme=tenant), "acme")
    assert ruleset.fetch_for("employee_updated") == {
        "employee": True,
        "manager": True,
        "custom_fields": True,
    }


def test_an_existing_rule_can_be_moved(tmp_path):
    tenant = "extends: standard\nrules:\n  updates:\n    after: contractors\n"
    ruleset = load_ruleset(rules_with(tmp_path, acme=tenant), "acme")
    assert [rule.name for rule in ruleset.rules] == [
        "contractors",
        "updates",
        "rehires",
        "leavers",
        "new-people",
    ]


def test_a_tenant_adds_events_and_rules_for_them(tmp_path):
    tenant = """\
extends: standard
events: [employee_reinstated]
rules:
  reinstated:
    before: contractors
    triggers: [employee_reinstated]
    action: update
"""
    ruleset = load_ruleset(rules_with(tmp_path, acme=tenant), "acme")
    assert ruleset.events[-1] == "employee_reinstated"
    assert ruleset.rules[0].name == "reinstated"
    assert ruleset.rules[0].file == "rules/acme.yaml"
    assert ruleset.rules[0].line == 4


def test_create_only_always_holds_user_name(tmp_path):
    tenant = "extends: standard\ncreate_only: [X-Start Date]\npayload:\n  X-Start Date: x\n"
    ruleset = load_ruleset(rules_with(tmp_path, acme=tenant), "acme")
    assert ruleset.rule("updates").create_only == frozenset({"user_name", "X-Start Date"})


def test_a_chain_of_three_files(tmp_path):
    group = "extends: standard\noptions:\n  create_on: active\n  include_contractors: true\n"
    tenant = "extends: retail\noptions:\n  include_contractors: false\n"
    ruleset = load_ruleset(rules_with(tmp_path, retail=group, acme=tenant), "acme")
    assert ruleset.options["create_on"] == "active"
    assert ruleset.options["include_contractors"] is False
    assert [p.name for p in ruleset.files] == ["standard.yaml", "retail.yaml", "acme.yaml"]


def test_check_files_is_clean_for_good_files_and_covers_unused_ones(tmp_path):
    folder = rules_with(tmp_path, acme="extends: standard\n", spare="extends: nowhere\n")
    assert [str(e) for e in check_files(folder, ["acme", "newco"])] == [
        "rules/spare.yaml:1: extends: there is no rules/nowhere.yaml"
    ]


def test_evaluate_is_deterministic_and_does_not_change_the_context(tmp_path):
    ruleset = load_ruleset(rules_with(tmp_path), "acme")
    employee = json.loads((TESTS / "data" / "eh" / "employee-new-starter.json").read_text())
    context = build_context(WEBHOOK, "employee_created", employee["data"], None, None, {}, NOW)
    before = json.dumps(context, sort_keys=True)
    first, second = evaluate(ruleset, context), evaluate(ruleset, context)
    assert json.dumps(context, sort_keys=True) == before
    assert first == second
    assert first.create_only == frozenset({"user_name"})
    assert first.trace[0] == {
        "rule": "contractors",
        "file": "rules/standard.yaml",
        "line": first.trace[0]["line"],
        "matched": False,
        "why": "when: fields.contractor equals true (was false)",
    }


def test_build_context_needs_an_aware_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        build_context({}, "employee_created", {}, None, None, {}, datetime(2026, 11, 28))


def test_build_context_dates_come_from_now_in_the_tenant_zone():
    context = build_context(
        {}, "x", None, None, None, {"id": "a"}, datetime.fromisoformat("2026-11-28T00:30:00+11:00")
    )
    assert (context["today"], context["now"]) == ("2026-11-28", "2026-11-28T00:30:00+11:00")
    assert context["custom_fields"] == {} and context["event"] == {}
