"""What a rule file may say, and its compilation into Rule objects.

Everything is compiled here, once, when the files load: JMESPath (with its function names and
top-level names checked), conditions, Jinja templates (with the names they read checked). A
mistake is reported at the file and line where it was written, and compilation goes on so every
mistake is reported in one pass.
"""

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from thsync.core.yamlsafe import KeyPath
from thsync.rules.conditions import Condition, same, shown
from thsync.rules.errors import Report, did_you_mean, point_at, unknown_key
from thsync.rules.jmes import Expr, ExpressionError, compile_jmespath, parse_jmespath
from thsync.rules.render import PayloadItem, compile_value
from thsync.tribal_habits.user import FIELDS, is_field

T = TypeVar("T")
# conditions(raw, path): a compiled condition, or None after reporting.
CompileConditions = Callable[[object, KeyPath], Condition | None]
# An option's declaration: (default, choices or None).
Declared = dict[str, tuple[Any, list[Any] | None]]

TOP_KEYS = (
    "extends",
    "description",
    "events",
    "options",
    "intake",
    "fetch",
    "extract",
    "payload",
    "create_only",
    "rules",
)
RULE_KEYS = (
    "description",
    "enabled",
    "before",
    "after",
    "triggers",
    "when",
    "fetch",
    "extract",
    "action",
    "reason",
    "payload",
    "create_only",
)
TRIGGER_KEYS = ("event", "when")
OPTION_KEYS = ("default", "choices", "help")
INTAKE_KEYS = ("event_type", "event_id", "employee_id", "organisation_id")
FETCH_KEYS = ("employee", "manager", "custom_fields")
FETCH_DEFAULT = {"employee": True, "manager": True, "custom_fields": False}
ACTIONS = ("upsert", "update", "deactivate", "skip")
ANY_EVENT = "*"
# What build_context provides: extractions read these; conditions also read `fields`.
CONTEXT_NAMES = (
    "event",
    "event_type",
    "employee",
    "manager",
    "custom_fields",
    "tenant",
    "options",
    "now",
    "today",
)
EXTRACT_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Stands in for what failed to compile; such a rule set is never used, so it may pass for any
# compiled value.
BROKEN: Any = object()


def check_keys(
    data: Mapping[str, Any], allowed: Sequence[str], path: KeyPath, report: Report
) -> None:
    for key in data:
        if key not in allowed:
            report(path + (key,), unknown_key(key, allowed))


def expression_problem(exc: ExpressionError, source: str) -> str:
    return exc.message + point_at(source, exc.offset)


def compile_expr(
    source: object,
    path: KeyPath,
    report: Report,
    roots: Collection[str] | None = None,
    fields: Collection[str] | None = None,
) -> Expr | None:
    if not isinstance(source, str):
        report(path, f"must be a JMESPath expression (a string), not {shown(source)}")
        return None
    try:
        if roots is None:
            return parse_jmespath(source)
        return compile_jmespath(source, roots, fields)
    except ExpressionError as exc:
        report(path, expression_problem(exc, source))
        return None


def expect_mapping(raw: object, path: KeyPath, report: Report, what: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        report(path, f"must be a mapping of {what}")
        return {}
    return raw


# --- options -------------------------------------------------------------------------------


def declare_options(raw: object, report: Report) -> Declared:
    """name -> (default, choices or None), from the base file's `options` declarations."""
    declared: Declared = {}
    for name, spec in expect_mapping(raw, ("options",), report, "declarations").items():
        path = ("options", name)
        if not isinstance(spec, dict) or "default" not in spec:
            report(path, "declare an option as {default: …, choices: […], help: …}")
            continue
        check_keys(spec, OPTION_KEYS, path, report)
        choices = spec.get("choices")
        if choices is not None and not (isinstance(choices, list) and choices):
            report(path + ("choices",), "must be a non-empty list")
            choices = None
        declared[name] = (spec["default"], choices)
        if choices and not any(same(spec["default"], c) for c in choices):
            report(path + ("default",), option_problem(spec["default"], choices))
    return declared


def option_problem(value: object, choices: Sequence[object]) -> str:
    listed = ", ".join(str(shown(c)).strip('"') for c in choices)
    return f"must be one of: {listed} (was {shown(value)}){did_you_mean(value, choices)}"


def set_options(raw: object, declared: Declared, values: dict[str, Any], report: Report) -> None:
    """Apply a tenant file's `options: {name: value}`, checked against the declarations."""
    for name, value in expect_mapping(raw, ("options",), report, "option values").items():
        path = ("options", name)
        if name not in declared:
            report(path, unknown_key(name, list(declared)))
            continue
        default, choices = declared[name]
        if choices and not any(same(value, c) for c in choices):
            report(path, option_problem(value, choices))
        elif not choices and type(value) is not type(default):
            report(path, f"must be a {type(default).__name__} like the default {shown(default)}")
        else:
            values[name] = value


# --- top-level sections --------------------------------------------------------------------


def compile_events(raw: object, report: Report) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(e, str) and e for e in raw):
        report(("events",), "must be a list of event names (EH wire names)")
        return ()
    return tuple(dict.fromkeys(raw))


def compile_intake(raw: object, report: Report) -> dict[str, Expr | None]:
    given = expect_mapping(raw, ("intake",), report, "name → JMESPath over the webhook body")
    check_keys(given, INTAKE_KEYS, ("intake",), report)
    intake: dict[str, Expr | None] = {}
    for key in INTAKE_KEYS:
        if key not in given:
            report(("intake",), f"'{key}' is required")
            continue
        intake[key] = compile_expr(given[key], ("intake", key), report)
    return intake


def compile_fetch(
    raw: object, base: Mapping[str, bool], path: KeyPath, report: Report
) -> dict[str, bool]:
    """What to read from the EH API. Without the employee there is nothing to find the manager
    or custom fields from, so the webhook body's `data` stands in for the employee alone."""
    if raw == "none":
        return dict.fromkeys(FETCH_KEYS, False)
    given = expect_mapping(raw, path, report, "employee / manager / custom_fields: true or false")
    check_keys(given, FETCH_KEYS, path, report)
    fetch = dict(base)
    for key in FETCH_KEYS:
        if key in given and not isinstance(given[key], bool):
            report(path + (key,), "must be true or false")
        elif key in given:
            fetch[key] = given[key]
    if not fetch["employee"]:
        for key in ("manager", "custom_fields"):
            if given.get(key) is True:
                report(path + (key,), f"{key}: true needs employee: true")
            fetch[key] = False
    return fetch


def compile_extract(raw: object, path: KeyPath, report: Report) -> dict[str, Expr | None]:
    """name -> compiled JMESPath; a null value stays None (it removes an inherited name)."""
    extract: dict[str, Expr | None] = {}
    for name, source in expect_mapping(raw, path, report, "name → JMESPath").items():
        where = path + (name,)
        if not EXTRACT_NAME.match(name) or name in CONTEXT_NAMES or name == "fields":
            report(
                where,
                "an extraction name is lower_case_with_underscores and not one of "
                f"{', '.join(CONTEXT_NAMES)}, fields",
            )
            continue
        if source is None:
            extract[name] = None
            continue
        # A broken expression keeps its name, so templates reading it add no second error.
        extract[name] = compile_expr(source, where, report, CONTEXT_NAMES) or BROKEN
    return extract


def compile_payload(
    raw: object, known: Collection[str], path: KeyPath, report: Report
) -> dict[str, PayloadItem | None]:
    payload: dict[str, PayloadItem | None] = {}
    for key, value in expect_mapping(raw, path, report, "TH field → template").items():
        where = path + (key,)
        if not is_field(key):
            report(
                where,
                f"not a Tribal Habits field: use one of {', '.join(FIELDS)}, or "
                f"X-<custom field name>{did_you_mean(key, FIELDS)}",
            )
            continue
        payload[key] = compile_value(value, known, where, report)
    return payload


def compile_create_only(raw: object, path: KeyPath, report: Report) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        report(path, "must be a list of payload keys")
        return frozenset({"user_name"})
    return frozenset(raw) | {"user_name"}
