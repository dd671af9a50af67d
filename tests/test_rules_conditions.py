"""Conditions: each node kind and match op, with the reason it gives; and what compiling rejects."""

import pytest
import yaml

from thsync.rules.conditions import ConditionError, compile_condition
from thsync.rules.schema import compile_expr

CONTEXT = {
    "event_type": "employee_updated",
    "today": "2026-11-28",
    "options": {"include_contractors": False},
    "employee": {
        "status": "active",
        "independent_contractor": True,
        "termination_date": "2026-11-27",
        "start_date": "2026-11-28T09:00:00+11:00",
        "code": "HL-0042",
        "teams": [],
        "middle_name": None,
        "count": 0,
    },
}


def build(text: str):
    errors = []

    def report(path, message):
        errors.append((path, message))

    def expr(source, path):
        return compile_expr(source, path, report)

    condition = compile_condition(yaml.safe_load(text), ("when",), report, expr)
    return condition, errors


CASES = [
    # (condition in YAML, holds, why)
    (
        "match: {value: employee.independent_contractor, op: equals, to: true}",
        True,
        "employee.independent_contractor equals true (was true)",
    ),
    (
        "match: {value: employee.count, op: equals, to: false}",
        False,
        "employee.count equals false (was 0)",
    ),
    (
        "match: {value: employee.status, op: not_equals, to: active}",
        False,
        'employee.status not_equals "active" (was "active")',
    ),
    (
        "match: {value: employee.status, op: in, to: [active, pending]}",
        True,
        'employee.status in ["active", "pending"] (was "active")',
    ),
    (
        "match: {value: employee.status, op: not_in, to: [terminated]}",
        True,
        'employee.status not_in ["terminated"] (was "active")',
    ),
    (
        "match: {value: employee.code, op: regex, to: '^HL-\\d+$'}",
        True,
        'employee.code regex "^HL-\\\\d+$" (was "HL-0042")',
    ),
    (
        "match: {value: employee.count, op: regex, to: '0'}",
        False,
        'employee.count regex "0" (was 0)',
    ),
    (
        "match: {value: employee.middle_name, op: exists}",
        False,
        "employee.middle_name exists (was null)",
    ),
    ("match: {value: employee.teams, op: empty}", True, "employee.teams empty (was [])"),
    ("match: {value: employee.count, op: empty}", False, "employee.count empty (was 0)"),
    (
        "match: {value: employee.code, op: not_empty}",
        True,
        'employee.code not_empty (was "HL-0042")',
    ),
    (
        "match: {value: employee.termination_date, op: date_on_or_before, to: {path: today}}",
        True,
        'employee.termination_date date_on_or_before today (was "2026-11-27", today was '
        '"2026-11-28")',
    ),
    (
        "match: {value: employee.start_date, op: date_before, to: {path: today}}",
        False,
        'employee.start_date date_before today (was "2026-11-28T09:00:00+11:00", today was '
        '"2026-11-28")',
    ),
    (
        "match: {value: employee.start_date, op: date_after, to: '2026-11-01'}",
        True,
        'employee.start_date date_after "2026-11-01" (was "2026-11-28T09:00:00+11:00")',
    ),
    (
        "match: {value: employee.code, op: date_after, to: '2026-11-01'}",
        False,
        'employee.code date_after "2026-11-01" (was "HL-0042": not a date)',
    ),
    (
        "match: {value: employee.status, op: equals, to: {path: event_type}}",
        False,
        'employee.status equals event_type (was "active", event_type was "employee_updated")',
    ),
    (
        "employee.independent_contractor && !(options.include_contractors)",
        True,
        "employee.independent_contractor && !(options.include_contractors) (was true)",
    ),
    ("employee.teams", False, "employee.teams (was [])"),
    ("employee.count", True, "employee.count (was 0)"),
    (
        "and: [employee.status, 'employee.code == `null`']",
        False,
        "employee.code == `null` (was false)",
    ),
    (
        "and: [employee.status, employee.code]",
        True,
        'employee.status (was "active") and employee.code (was "HL-0042")',
    ),
    (
        "or: [employee.teams, employee.middle_name]",
        False,
        "none of: employee.teams (was []); employee.middle_name (was null)",
    ),
    ("or: [employee.teams, employee.code]", True, 'employee.code (was "HL-0042")'),
    ("not: employee.teams", True, "not (employee.teams (was []))"),
]


@pytest.mark.parametrize(("text", "holds", "why"), CASES)
def test_evaluate(text, holds, why):
    condition, errors = build(text)
    assert errors == []
    assert condition.evaluate(CONTEXT) == (holds, why)


def test_a_run_time_jmespath_failure_raises():
    condition, _ = build("lower(employee.count)")
    with pytest.raises(ConditionError) as caught:
        condition.evaluate(CONTEXT)
    assert str(caught.value).startswith("lower(employee.count): In function lower(), invalid type")


BAD = [
    (
        "[a, b]",
        [
            (
                (("when",)),
                "a condition is a JMESPath string or a mapping with exactly one of "
                "the keys and, or, not, match",
            )
        ],
    ),
    (
        "{and: [a], or: [b]}",
        [
            (
                ("when",),
                "a condition is a JMESPath string or a mapping with "
                "exactly one of the keys and, or, not, match (found: and, or)",
            )
        ],
    ),
    ("{all: [a]}", [(("when", "all"), "unknown key (allowed: and, or, not, match)")]),
    (
        "{anf: [a]}",
        [(("when", "anf"), "unknown key (allowed: and, or, not, match); did you mean 'and'?")],
    ),
    ("{or: []}", [(("when", "or"), "'or' takes a non-empty list of conditions")]),
    (
        "{match: x}",
        [
            (
                ("when", "match"),
                "'match' takes a mapping: {value: <JMESPath>, op: <op>, to: <value>}",
            )
        ],
    ),
    ("{match: {value: a}}", [(("when", "match"), "'match' needs 'op'")]),
    (
        "{match: {value: a, op: exists, to: 1}}",
        [(("when", "match", "to"), "'exists' takes no 'to'")],
    ),
    ("{match: {value: a, op: equals}}", [(("when", "match"), "'equals' needs 'to'")]),
    ("{match: {value: a, op: in, to: x}}", [(("when", "match", "to"), "'in' needs a list")]),
    (
        "{match: {value: a, op: equals, to: [x]}}",
        [(("when", "match", "to"), "'equals' compares with a single value")],
    ),
    (
        "{match: {value: a, op: date_after, to: tomorrow}}",
        [
            (
                ("when", "match", "to"),
                "'date_after' needs a date (YYYY-MM-DD) or {path: <JMESPath>}, not \"tomorrow\"",
            )
        ],
    ),
    (
        "{match: {value: a, op: equals, to: {pth: b}}}",
        [(("when", "match", "to"), "'to' is a value, a list, or {path: <JMESPath>}")],
    ),
    (
        "{match: {value: a, op: regex, to: 5}}",
        [(("when", "match", "to"), "'regex' needs a pattern (a string)")],
    ),
    (
        "{match: {value: a, op: equals, to: 1, extra: 2}}",
        [(("when", "match", "extra"), "unknown key (allowed: value, op, to)")],
    ),
    (
        "{not: {match: {value: 'a ||', op: exists}}}",
        [
            (
                ("when", "not", "match", "value"),
                "invalid JMESPath: incomplete expression\n  a ||\n      ^",
            )
        ],
    ),
    (
        "{and: [{or: [a, 'b[']}, {match: {value: c, op: eq, to: 1}}]}",
        [
            (("when", "and", 0, "or", 1), "invalid JMESPath: incomplete expression\n  b[\n    ^"),
            (
                ("when", "and", 1, "match", "op"),
                'unknown op "eq" (allowed: equals, not_equals, in, not_in, regex, exists, empty, '
                "not_empty, date_on_or_before, date_before, date_after)",
            ),
        ],
    ),
]


@pytest.mark.parametrize(("text", "errors"), BAD)
def test_compile_errors(text, errors):
    condition, found = build(text)
    assert condition is None
    assert found == errors
