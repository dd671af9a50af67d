"""The rule engine, driven by tests/cases/rules/*.yaml (jmespath compliance-suite style).

A case file has `given` (the rule files and the event, people and time to evaluate) and `cases`,
each with its own `given` overrides and an `expect`:

    given:
      tenant: |             # rules/acme.yaml (absent: acme has no file and gets standard.yaml)
        extends: standard
      options: {…}          # or just these options, written as rules/acme.yaml
      tenant_id: acme
      event: webhook-employee-updated   # tests/data/eh/<name>.json, or a mapping
      event_type: …         # default: read from the event by the intake expressions
      employee: employee-active         # name or mapping; employee_changes: {…} patches it
      manager: employee-manager         # name, mapping or null; manager_changes patches it
      custom_fields: custom-fields-employee-42
      now: "2026-11-28T10:00:00+11:00"
    cases:
      - name: …
        given: {…}
        expect:
          action: upsert
          rule: new-people      # null: no rule matched
          reason: a substring
          payload: {…}          # a subset; null: no payload
          payload_exact: {…}    # the whole payload
          payload_lacks: [key, …]
          problems: [substring, …]   # default: no problems
          trace: [{rule: …, matched: …, why: substring, file: …, line: …}, …]  # a subset, in order
"""

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from thsync.rules.engine import build_context, evaluate
from thsync.rules.ruleset import load_ruleset
from thsync.sources.employment_hero.records import custom_field_values

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CASES = TESTS / "cases" / "rules"
SAMPLES = TESTS / "data" / "eh"
TENANT = {"id": "acme", "name": "Acme Logistics", "time_zone": "Australia/Sydney"}


def decision_cases():
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        for case in spec.get("cases", []):
            given = {**spec.get("given", {}), **case.get("given", {})}
            yield pytest.param(given, case["expect"], id=f"{path.stem}: {case['name']}")


def sample(value):
    """A sample by name (its `data` when it has one), or the value itself."""
    if not isinstance(value, str):
        return value
    data = json.loads((SAMPLES / f"{value}.json").read_text())
    return data if "event" in data else data["data"]


def person(given: dict, key: str):
    found = sample(given.get(key))
    changes = given.get(f"{key}_changes")
    return {**found, **changes} if changes else found


def rules_dir(tmp_path: Path, given: dict) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("standard.yaml", "demo.yaml"):
        shutil.copy(REPO / "rules" / name, folder / name)
    text = given.get("tenant")
    if given.get("options"):
        text = yaml.safe_dump({"extends": "standard", "options": given["options"]})
    if text:
        (folder / f"{given.get('tenant_id', 'acme')}.yaml").write_text(text)
    return folder


def custom_fields(given: dict):
    value = given.get("custom_fields")
    if isinstance(value, str):
        return custom_field_values(sample(value)["items"])
    return value


def decide(tmp_path, given: dict):
    ruleset = load_ruleset(rules_dir(tmp_path, given), given.get("tenant_id", "acme"))
    event = sample(given["event"])
    context = build_context(
        event=event,
        event_type=given.get("event_type") or ruleset.read_intake(event)["event_type"],
        employee=person(given, "employee"),
        manager=person(given, "manager") if given.get("manager") else None,
        custom_fields=custom_fields(given),
        tenant=TENANT,
        now=datetime.fromisoformat(given.get("now", "2026-11-28T10:00:00+11:00")),
    )
    return evaluate(ruleset, context)


def check_trace(trace: list, expected: list) -> None:
    steps = iter(trace)
    for want in expected:
        step = next((s for s in steps if s["rule"] == want["rule"]), None)
        assert step is not None, f"no trace step for {want['rule']} (in order): {trace}"
        assert step["matched"] == want.get("matched", step["matched"]), step
        assert want.get("why", "") in step["why"], step
        assert (step["file"], step["line"]) == (
            want.get("file", step["file"]),
            want.get("line", step["line"]),
        )


@pytest.mark.parametrize(("given", "expect"), list(decision_cases()))
def test_decision(tmp_path, given, expect):
    decision = decide(tmp_path, given)
    summary = f"{decision.action} by {decision.rule}: {decision.reason} {decision.problems}"
    assert decision.action == expect["action"], summary
    assert decision.rule == expect.get("rule", decision.rule), summary
    assert expect.get("reason", "") in decision.reason, summary
    if "payload" in expect and expect["payload"] is None:
        assert decision.payload is None
    elif "payload" in expect:
        subset = {k: decision.payload.get(k, "<absent>") for k in expect["payload"]}
        assert subset == expect["payload"], decision.payload
    if "payload_exact" in expect:
        assert decision.payload == expect["payload_exact"]
    for key in expect.get("payload_lacks", []):
        assert key not in decision.payload, decision.payload
    wanted = expect.get("problems", [])
    assert len(decision.problems) == len(wanted), decision.problems
    for problem, text in zip(decision.problems, wanted, strict=True):
        assert text in problem
    check_trace(decision.trace, expect.get("trace", []))
