"""Evaluate one event against a tenant's rules: pure (no I/O, no clock), with its reasons.

Rules are tried in order and the first that matches decides. For each rule: is it enabled; does
one of its triggers name this event (and does that trigger's condition hold); does its `when`
hold. Extractions are evaluated first (they are pure and cheap), so conditions can read them as
`fields.<name>`; templates read them as plain names beside `employee`, `manager`, `event`,
`event_type`, `custom_fields`, `tenant`, `options`, `now` and `today`.

The Decision says what to do and why, and `trace` says, for every rule tried, whether it matched
and what excluded it, with its file and line.

Problems. A decision can be correct in intent but impossible to carry out: a template that fails
on this employee's data, a required TH field (user_name, first_name, last_name, email for
upsert/update; user_name for deactivate) that came out blank, a condition that raised. Those are
listed in `Decision.problems` instead of raising, and the worker treats a non-empty list as a
permanent failure of the job, so support sees the message and what was rendered.

A deactivate decision carries only `user_name` and `active: false`: a broken mapping elsewhere
must never keep a leaver active.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jmespath.exceptions import JMESPathError

from thsync.rules.conditions import ConditionError
from thsync.rules.jmes import Expr
from thsync.rules.render import render_payload
from thsync.rules.rule import Rule
from thsync.rules.ruleset import RuleSet

if TYPE_CHECKING:  # the tenant is handed in; the rules import nothing of config
    from thsync.config.tenants import Tenant

REQUIRED = {
    "upsert": ("user_name", "first_name", "last_name", "email"),
    "update": ("user_name", "first_name", "last_name", "email"),
    "deactivate": ("user_name",),
}


@dataclass
class Decision:
    action: str  # upsert | update | deactivate | skip
    rule: str | None
    reason: str
    extracted: dict[str, Any]
    payload: dict[str, Any] | None
    create_only: frozenset[str]
    trace: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    changes: dict[str, Any] | None = None  # what the TH write changed, once it was carried out

    def as_dict(self) -> dict[str, Any]:
        """The decision as a job, its attempts and the event page keep it (JSON)."""
        data: dict[str, Any] = {
            "action": self.action,
            "rule": self.rule,
            "reason": self.reason,
            "extracted": self.extracted,
            "payload": self.payload,
            "create_only": sorted(self.create_only),
            "problems": list(self.problems),
            "trace": self.trace,
        }
        if self.changes is not None:
            data["changes"] = self.changes
        return data


def build_context(
    event: dict[str, Any] | None,
    event_type: str | None,
    employee: dict[str, Any] | None,
    manager: dict[str, Any] | None,
    custom_fields: dict[str, Any] | None,
    tenant: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """What rules read. `now` must be aware and in the tenant's time zone: `today` is the
    tenant's date, which decides whether a termination date has passed."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (in the tenant's time zone)")
    return {
        "event": event or {},
        "event_type": event_type,
        "employee": employee,
        "manager": manager,
        "custom_fields": custom_fields or {},
        "tenant": dict(tenant or {}),
        "now": now.isoformat(timespec="seconds"),
        "today": now.date().isoformat(),
    }


class _Run:
    """One evaluation: the context, extraction results shared between rules, the trace."""

    def __init__(self, ruleset: RuleSet, context: dict[str, Any]) -> None:
        self.context = {**context, "options": dict(ruleset.options)}
        self.event_type = context.get("event_type")
        self.cache: dict[int, tuple[Any, str | None]] = {}
        self.trace: list[dict[str, Any]] = []

    def note(self, rule: Rule, matched: bool, why: str) -> None:
        entry = {"rule": rule.name, "file": rule.file, "line": rule.line}
        self.trace.append({**entry, "matched": matched, "why": why})

    def extract(self, rule: Rule) -> tuple[dict[str, Any], list[str]]:
        fields: dict[str, Any] = {}
        problems: list[str] = []
        for name, expr in rule.extract.items():
            if id(expr) not in self.cache:
                self.cache[id(expr)] = search(expr, self.context)
            fields[name], error = self.cache[id(expr)]
            if error:
                problems.append(f"rule '{rule.name}' → extract.{name}: {error}")
        return fields, problems

    def try_rule(self, rule: Rule) -> Decision | None:
        if not rule.enabled:
            self.note(rule, False, "disabled (enabled: false)")
            return None
        if not rule.listens_to(self.event_type):
            events = ", ".join(t.label for t in rule.triggers)
            self.note(rule, False, f"no trigger for {self.event_type} (triggers: {events})")
            return None
        fields, problems = self.extract(rule)
        scope = {**self.context, "fields": fields}
        try:
            held, why = check_rule(rule, self.event_type, scope)
        except ConditionError as exc:
            self.note(rule, False, f"condition failed: {exc}")
            return self.failed(rule, fields, f"rule '{rule.name}' → condition: {exc}")
        self.note(rule, held, why)
        return decide(rule, why, fields, problems, self) if held else None

    def failed(self, rule: Rule, fields: dict[str, Any], problem: str) -> Decision:
        reason = f"rule '{rule.name}' could not be evaluated"
        return Decision(
            "skip", rule.name, reason, fields, None, rule.create_only, self.trace, [problem]
        )

    def no_match(self) -> Decision:
        reason = f"no rule matched this {self.event_type} event"
        return Decision("skip", None, reason, {}, None, frozenset({"user_name"}), self.trace)


def search(expr: Expr, context: dict[str, Any]) -> tuple[Any, str | None]:
    """(value, error text or None): data may hold anything, so a type error is data, not a
    crash."""
    try:
        return expr.search(context), None
    except JMESPathError as exc:
        return None, str(exc)


def check_rule(rule: Rule, event_type: str | None, scope: dict[str, Any]) -> tuple[bool, str]:
    """(matched, why) for a rule whose triggers name this event."""
    failures: list[str] = []
    for trigger in rule.triggers:
        if not trigger.covers(event_type):
            continue
        if trigger.when is None:
            held, why = True, f"{event_type} event"
        else:
            held, why = trigger.when.evaluate(scope)
        if held:
            break
        failures.append(f"trigger {trigger.label}: {why}")
    else:
        return False, "; ".join(failures)
    if rule.when is None:
        return True, why
    held, when_why = rule.when.evaluate(scope)
    return held, f"{why}; {when_why}" if held else f"when: {when_why}"


def decide(
    rule: Rule, why: str, fields: dict[str, Any], problems: list[str], run: _Run
) -> Decision:
    reason = rule.reason or f"rule '{rule.name}' matched: {why}"
    payload = None
    if rule.action != "skip":
        payload, rendered = render_for(rule, {**run.context, **fields})
        problems = problems + rendered
    return Decision(
        rule.action, rule.name, reason, fields, payload, rule.create_only, run.trace, problems
    )


def render_for(rule: Rule, variables: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    items = rule.payload
    if rule.action == "deactivate":
        items = {key: item for key, item in items.items() if key == "user_name"}
    payload, problems = render_payload(items, variables)
    problems = [f"rule '{rule.name}' → {problem}" for problem in problems]
    for key in REQUIRED[rule.action]:
        if payload.get(key) in (None, "") and not any(f"payload.{key}:" in p for p in problems):
            problems.append(f"rule '{rule.name}' → payload.{key}: missing required field {key}")
    if rule.action == "deactivate":
        payload["active"] = False
    return payload, problems


def evaluate(ruleset: RuleSet, context: dict[str, Any]) -> Decision:
    """The first matching rule's decision, or a skip saying no rule matched."""
    run = _Run(ruleset, context)
    for rule in ruleset.rules:
        decision = run.try_rule(rule)
        if decision is not None:
            return decision
    return run.no_match()


def format_trace(decision: Decision) -> str:
    """The trace as lines for a terminal or a log."""
    lines = []
    for step in decision.trace:
        mark = "matched" if step["matched"] else "no"
        lines.append(f"{step['file']}:{step['line']}: {step['rule']}: {mark}: {step['why']}")
    return "\n".join(lines)


# When a coalesced job carries several event types, the strongest decision wins.
PRECEDENCE = {"deactivate": 4, "upsert": 3, "update": 2, "skip": 1}


def decide_events(
    ruleset: RuleSet,
    tenant: "Tenant",
    event: dict[str, Any] | None,
    event_types: Iterable[str | None] | None,
    employee: dict[str, Any] | None,
    manager: dict[str, Any] | None,
    custom: dict[str, Any] | None,
    now: datetime,
) -> Decision:
    """The strongest decision over the job's event types (a coalesced job may carry several)."""
    decisions: list[Decision] = []
    for event_type in event_types or [None]:
        context = build_context(
            event=event,
            event_type=event_type,
            employee=employee,
            manager=manager,
            custom_fields=custom,
            tenant=tenant.context(),
            now=now,
        )
        decisions.append(evaluate(ruleset, context))
    return max(decisions, key=lambda d: PRECEDENCE.get(d.action, 0))
