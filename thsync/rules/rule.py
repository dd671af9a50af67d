"""A rule of a rule file compiled: its triggers, condition, extractions, payload and action,
merged over the file's shared sections and checked where it was written."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from thsync.core.yamlsafe import KeyPath
from thsync.rules.conditions import Condition, compile_condition, shown
from thsync.rules.errors import Loc, Report, did_you_mean
from thsync.rules.jmes import Expr
from thsync.rules.render import PayloadItem, unknown_names
from thsync.rules.schema import (
    ACTIONS,
    ANY_EVENT,
    CONTEXT_NAMES,
    FETCH_DEFAULT,
    RULE_KEYS,
    TRIGGER_KEYS,
    CompileConditions,
    check_keys,
    compile_create_only,
    compile_expr,
    compile_extract,
    compile_fetch,
    compile_payload,
)

T = TypeVar("T")


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
