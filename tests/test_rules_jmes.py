"""Our JMESPath functions, and the checks made when an expression is compiled."""

import pytest

from thsync.rules.errors import point_at
from thsync.rules.jmes import ExpressionError, compile_jmespath, parse_date

DATA = {
    "e": {
        "name": "  Jordan ",
        "start": "2023-07-10",
        "stamp": "2026-11-27T23:30:00+11:00",
        "zulu": "2026-11-27T13:30:00Z",
        "blank": "",
        "teams": [{"name": "Warehouse"}, {"name": " "}, {"id": 3}, {"name": "Fleet"}],
    }
}


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("lower(e.name)", "  jordan "),
        ("upper(e.name)", "  JORDAN "),
        ("trim(e.name)", "Jordan"),
        ("trim(e.missing)", None),
        ("date(e.start)", "2023-07-10"),
        ("date(e.stamp)", "2026-11-27"),  # the date as written, before any zone conversion
        ("date(e.zulu)", "2026-11-27"),
        ("date(e.blank)", None),
        ("date(e.name)", None),
        ("date(e.missing)", None),
        ("join_names(e.teams)", "Warehouse;Fleet"),
        ("join_names(`[]`)", None),
        ("join_names(e.missing)", None),
        ("trim(e.blank) || 'fallback'", "fallback"),
    ],
)
def test_functions(expression, result):
    assert compile_jmespath(expression).search(DATA) == result


@pytest.mark.parametrize(
    ("value", "result"),
    [("2026-02-28", "2026-02-28"), ("2026-02-30", None), ("28/02/2026", None), (20260228, None)],
)
def test_parse_date(value, result):
    found = parse_date(value)
    assert (found.isoformat() if found else None) == result


@pytest.mark.parametrize(
    ("expression", "roots", "fields", "message"),
    [
        ("", None, None, "invalid JMESPath: the expression is empty"),
        ("a.b c", None, None, "invalid JMESPath: Unexpected token: c\n  a.b c\n      ^"),
        ("`{bad", None, None, "invalid JMESPath: Unclosed ` delimiter\n  `{bad\n  ^"),
        (
            "lower(a, b)",
            None,
            None,
            "invalid JMESPath: lower() takes 1 argument(s), got 2\n  lower(a, b)\n  ^",
        ),
        (
            "a || trm(b)",
            None,
            None,
            "invalid JMESPath: unknown function trm(); did you mean 'trim'?\n"
            "  a || trm(b)\n       ^",
        ),
        (
            "employee.x || manger.y",
            ["employee", "manager"],
            None,
            "unknown name 'manger' (known: employee, manager); did you mean 'manager'?\n"
            "  employee.x || manger.y\n                ^",
        ),
        (
            "fields.emial",
            ["fields"],
            ["email"],
            "unknown field 'fields.emial' (extracted: email); did you mean 'email'?\n"
            "  fields.emial\n  ^",
        ),
    ],
)
def test_compile_errors(expression, roots, fields, message):
    with pytest.raises(ExpressionError) as caught:
        compile_jmespath(expression, roots, fields)
    assert caught.value.message + point_at(expression, caught.value.offset) == message


@pytest.mark.parametrize(
    "expression",
    [
        "employee.teams[*].name",  # names inside a projection belong to the elements
        "employee.teams[?name == 'x'].id | [0]",
        "sort_by(employee.teams, &name)[0].name",
        "{a: employee.id, b: manager.id}",
        "[employee.id, today]",
        "max_by(employee.teams, &to_number(id)) || `null`",
        "@.employee",
    ],
)
def test_only_top_level_names_are_checked(expression):
    compile_jmespath(expression, ["employee", "manager", "today"])


def test_multiline_expression_points_at_its_own_line():
    source = "employee.a ||\n  manger.b"
    with pytest.raises(ExpressionError) as caught:
        compile_jmespath(source, ["employee", "manager"])
    assert point_at(source, caught.value.offset) == "\n    manger.b\n    ^"
