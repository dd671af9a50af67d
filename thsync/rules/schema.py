"""What a rule file may say, and its compilation into Rule objects.

Everything is compiled here, once, when the files load: JMESPath (with its function names and
top-level names checked), conditions, Jinja templates (with the names they read checked). A
mistake is reported at the file and line where it was written, and compilation goes on so every
mistake is reported in one pass.
"""

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from thsync.core.yamlsafe import KeyPath
from thsync.rules.conditions import Condition, compile_condition, same, shown
from thsync.rules.errors import Loc, Report, did_you_mean, point_at, unknown_key
from thsync.rules.jmes import Expr, ExpressionError, compile_jmespath, parse_jmespath
from thsync.rules.render import PayloadItem, compile_value, unknown_names

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
TH_KEYS = ("user_name", "first_name", "last_name", "email", "manager_email", "active")
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


@dataclass
class Trigger:
    events: frozenset[str] | None  # None: any event
    when: Condition | None = None
    label: str = ""

    def covers(self, event_type: str | None) -> bool:
        return self.events is None or event_type in self.events


@dataclass
class Rule:
    name: str
    file: str
    line: int | None
    enabled: bool = True
    triggers: list[Trigger] = field(default_factory=list)
    when: Condition | None = None
    fetch: dict[str, bool] = field(default_factory=lambda: dict(FETCH_DEFAULT))
    extract: dict[str, Expr] = field(default_factory=dict)
    action: str = "skip"
    reason: str | None = None
    payload: dict[str, PayloadItem] = field(default_factory=dict)
    create_only: frozenset[str] = frozenset({"user_name"})

    def listens_to(self, event_type: str | None) -> bool:
        return any(trigger.covers(event_type) for trigger in self.triggers)


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
        if key not in TH_KEYS and not (key.startswith("X-") and len(key) > 2):
            report(
                where,
                f"not a Tribal Habits field: use one of {', '.join(TH_KEYS)}, or "
                f"X-<custom field name>{did_you_mean(key, TH_KEYS)}",
            )
            continue
        payload[key] = compile_value(value, known, where, report)
    return payload


def compile_create_only(raw: object, path: KeyPath, report: Report) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        report(path, "must be a list of payload keys")
        return frozenset({"user_name"})
    return frozenset(raw) | {"user_name"}


# --- rules ---------------------------------------------------------------------------------


@dataclass
class Shared:
    """The top-level defaults every rule starts from."""

    events: tuple[str, ...]
    fetch: dict[str, bool]
    extract: dict[str, Expr]
    payload: dict[str, PayloadItem]
    create_only: frozenset[str]
    rule_names: tuple[str, ...]


def compile_rule(name: str, raw: object, shared: Shared, report: Report, loc: Loc) -> Rule | None:
    path = ("rules", name)
    if raw is None:
        report(path, "a rule is a mapping; to turn a standard rule off write `enabled: false`")
        return None
    if not isinstance(raw, dict):
        report(path, f"a rule is a mapping of {', '.join(RULE_KEYS)}")
        return None
    check_keys(raw, RULE_KEYS, path, report)
    check_position(raw, name, shared.rule_names, path, report)
    extract = inherit(
        shared.extract, compile_extract(raw.get("extract"), path + ("extract",), report)
    )
    rule = Rule(name, loc.file, loc.line, extract=extract)
    rule.enabled = compile_flag(raw.get("enabled", True), path + ("enabled",), report)
    rule.action, rule.reason = compile_action(raw, path, report)
    conditions = condition_compiler(set(extract), report)
    rule.triggers = compile_triggers(raw.get("triggers"), path, shared.events, report, conditions)
    if raw.get("when") is not None:
        rule.when = conditions(raw["when"], path + ("when",))
    rule.fetch = compile_fetch(raw.get("fetch"), shared.fetch, path + ("fetch",), report)
    rule.payload = compile_rule_payload(raw, path, shared, extract, report)
    if raw.get("create_only") is not None:
        rule.create_only = compile_create_only(raw["create_only"], path + ("create_only",), report)
    else:
        rule.create_only = shared.create_only
    return rule


def inherit(base: Mapping[str, T | None], own: Mapping[str, T | None]) -> dict[str, T]:
    """A rule's own entries over the shared ones; None removes an entry."""
    merged = {**base, **own}
    return {key: value for key, value in merged.items() if value is not None}


def compile_flag(raw: object, path: KeyPath, report: Report) -> bool:
    if not isinstance(raw, bool):
        report(path, "must be true or false")
        return True
    return raw


def compile_action(raw: Mapping[str, Any], path: KeyPath, report: Report) -> tuple[Any, str | None]:
    action, reason = raw.get("action"), raw.get("reason")
    if action is None:
        report(path, f"'action' is required (one of: {', '.join(ACTIONS)})")
    elif action not in ACTIONS:
        report(
            path + ("action",),
            f"unknown action {shown(action)} (allowed: {', '.join(ACTIONS)})"
            + did_you_mean(action, ACTIONS),
        )
    if reason is not None and not isinstance(reason, str):
        report(path + ("reason",), "must be text")
        reason = None
    if action == "skip" and not reason:
        report(path, "a skip rule needs a 'reason' (it is shown to support on every skipped job)")
    return action, reason


def check_position(
    raw: Mapping[str, Any], name: str, names: Sequence[str], path: KeyPath, report: Report
) -> None:
    if "before" in raw and "after" in raw:
        report(path + ("after",), "give 'before' or 'after', not both")
    for key in ("before", "after"):
        if key in raw and (raw[key] not in names or raw[key] == name):
            others = [n for n in names if n != name]
            report(
                path + (key,),
                f"no other rule named {shown(raw[key])} (rules: "
                f"{', '.join(others)}){did_you_mean(raw[key], others)}",
            )


def condition_compiler(fields: Collection[str], report: Report) -> CompileConditions:
    def compile_one(source: object, path: KeyPath) -> Expr | None:
        return compile_expr(source, path, report, CONTEXT_NAMES + ("fields",), fields)

    return lambda raw, path: compile_condition(raw, path, report, compile_one)


def compile_triggers(
    raw: object,
    path: KeyPath,
    events: Sequence[str],
    report: Report,
    conditions: CompileConditions,
) -> list[Trigger]:
    where = path + ("triggers",)
    if not isinstance(raw, list) or not raw:
        message = "a rule needs 'triggers': a list of event names or {event: …, when: …}"
        report(where if raw is not None else path, message)
        return []
    triggers = [
        compile_trigger(item, where + (i,), events, report, conditions)
        for i, item in enumerate(raw)
    ]
    return [trigger for trigger in triggers if trigger]


def compile_trigger(
    item: object,
    path: KeyPath,
    events: Sequence[str],
    report: Report,
    conditions: CompileConditions,
) -> Trigger | None:
    when = None
    if isinstance(item, dict):
        check_keys(item, TRIGGER_KEYS, path, report)
        if item.get("when") is not None:
            when = conditions(item["when"], path + ("when",))
        item, path = item.get("event"), path + ("event",)
    names: list[Any] = item if isinstance(item, list) else [item]
    if not names or not all(isinstance(n, str) for n in names):
        report(path, 'an event is a name (or a list of names) from `events`, or "*"')
        return None
    for name in names:
        if name != ANY_EVENT and name not in events:
            report(
                path,
                f'unknown event {shown(name)} (events: {", ".join(events)}, or "*" for '
                f"any){did_you_mean(name, events)}",
            )
    return Trigger(None if ANY_EVENT in names else frozenset(names), when, ", ".join(names))


def compile_rule_payload(
    raw: Mapping[str, Any],
    path: KeyPath,
    shared: Shared,
    extract: Mapping[str, Expr],
    report: Report,
) -> dict[str, PayloadItem]:
    known = set(CONTEXT_NAMES) | set(extract)
    own = compile_payload(raw.get("payload"), known, path + ("payload",), report)
    removed = set(shared.extract) - set(extract)
    for key, item in shared.payload.items():
        source = getattr(item, "source", None)
        if key in own or not removed or not isinstance(source, str):
            continue
        for name in set(unknown_names(source, known)) & removed:
            report(
                path + ("extract", name),
                f"this rule removes '{name}', which the shared payload.{key} reads",
            )
    return inherit(shared.payload, own)
