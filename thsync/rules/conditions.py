"""Conditions in rule files: a tree of `and` / `or` / `not` / `match`, or a JMESPath string.

Each node is a mapping with exactly one key, and each kind is one class with
`evaluate(scope) -> (bool, why)`, so the file reads like the code that runs it and every decision
carries a reason support staff can read, e.g. `employee.independent_contractor equals true (was
true)`.

    and: [node, …]          every node holds
    or: [node, …]           at least one node holds
    not: node               the node does not hold
    match: {value: <JMESPath>, op: <op>, to: <literal, list, or {path: <JMESPath>}>}
    "<JMESPath>"            the expression's result is truthy (not null, false, "", [] or {})

Match ops (a closed set; `to` may always be `{path: …}` to compare with another value, except
for `regex`):

    equals, not_equals      same JSON value (true is not 1)
    in, not_in              one of a list
    regex                   the value is a string and the pattern is found in it (re.search;
                            anchor with ^…$)
    exists                  not null (no `to`)
    empty, not_empty        null, "", [] or {} (no `to`)
    date_on_or_before, date_before, date_after
                            compare dates (YYYY-MM-DD or ISO date-times); false when either
                            side is not a date

Evaluation is pure; a JMESPath failure at run time (say, a function given the wrong type) raises
ConditionError, which the engine turns into a decision problem rather than a silent "no".
"""

import json
import operator
import re
import typing  # typing.Any in full: this module's own Any is the `or` node
from collections.abc import Callable, Mapping
from typing import Protocol

from jmespath.exceptions import JMESPathError

from thsync.core.yamlsafe import KeyPath
from thsync.rules.errors import Report, did_you_mean, point_at, unknown_key
from thsync.rules.jmes import Expr, parse_date

NODE_KEYS = ("and", "or", "not", "match")
MATCH_KEYS = ("value", "op", "to")
NO_TARGET = ("exists", "empty", "not_empty")
DATE_TESTS = {
    "date_on_or_before": operator.le,
    "date_before": operator.lt,
    "date_after": operator.gt,
}
DATE_OPS = tuple(DATE_TESTS)
OPS = ("equals", "not_equals", "in", "not_in", "regex", *NO_TARGET, *DATE_OPS)

# What conditions read: the rule context (event, employee, …, fields).
Scope = Mapping[str, typing.Any]
# compile_expr(source, path): the compiled expression, or None after reporting.
CompileExpr = Callable[[object, KeyPath], Expr | None]
# A match's `to`: (literal, list or compiled regex; path expression), one of them None.
Target = tuple[typing.Any, Expr | None]


class ConditionError(Exception):
    """A condition could not be evaluated."""


class Condition(Protocol):
    def evaluate(self, scope: Scope) -> tuple[bool, str]: ...


def is_empty(value: object) -> bool:
    """null, "", [] or {}; 0 and false are values."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def truthy(value: object) -> bool:
    """JMESPath truthiness: 0 is true, false and empty values are not."""
    return value is not False and not is_empty(value)


def same(a: object, b: object) -> bool:
    """JSON equality: true and 1 differ, 1 and 1.0 do not."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


PLAIN_TEXT = re.compile(r'[^"\\\x00-\x1f]*')


def shown(value: object) -> str:
    """The value as JSON, shortened: how a support person reads it in a trace."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, str) and PLAIN_TEXT.fullmatch(value):
        text = f'"{value}"'  # the same as json.dumps for text needing no escapes
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def search(expr: Expr, scope: Scope) -> typing.Any:
    try:
        return expr.search(scope)
    except JMESPathError as exc:
        raise ConditionError(f"{expr.source}: {exc}") from exc


class Truthy:
    def __init__(self, expr: Expr) -> None:
        self.expr = expr

    def evaluate(self, scope: Scope) -> tuple[bool, str]:
        value = search(self.expr, scope)
        return truthy(value), f"{self.expr.source.strip()} (was {shown(value)})"


class All:
    def __init__(self, nodes: list[Condition]) -> None:
        self.nodes = nodes

    def evaluate(self, scope: Scope) -> tuple[bool, str]:
        reasons = []
        for node in self.nodes:
            held, why = node.evaluate(scope)
            if not held:
                return False, why
            reasons.append(why)
        return True, " and ".join(reasons)


class Any:
    def __init__(self, nodes: list[Condition]) -> None:
        self.nodes = nodes

    def evaluate(self, scope: Scope) -> tuple[bool, str]:
        reasons = []
        for node in self.nodes:
            held, why = node.evaluate(scope)
            if held:
                return True, why
            reasons.append(why)
        return False, "none of: " + "; ".join(reasons)


class Not:
    def __init__(self, node: Condition) -> None:
        self.node = node

    def evaluate(self, scope: Scope) -> tuple[bool, str]:
        held, why = self.node.evaluate(scope)
        return not held, f"not ({why})"


def compare(op: str, actual: object, target: typing.Any) -> bool:
    if op in DATE_TESTS:
        left, right = parse_date(actual), parse_date(target)
        return left is not None and right is not None and DATE_TESTS[op](left, right)
    if op in ("equals", "not_equals"):
        return same(actual, target) == (op == "equals")
    if op in ("in", "not_in"):
        found = isinstance(target, list) and any(same(actual, t) for t in target)
        return isinstance(target, list) and found == (op == "in")
    if op == "regex":
        return isinstance(actual, str) and bool(target.search(actual))
    if op == "exists":
        return actual is not None
    return is_empty(actual) == (op == "empty")


class Match:
    def __init__(
        self, value: Expr, op: str, to: typing.Any = None, to_path: Expr | None = None
    ) -> None:
        self.value, self.op, self.to, self.to_path = value, op, to, to_path

    def evaluate(self, scope: Scope) -> tuple[bool, str]:
        actual = search(self.value, scope)
        target = search(self.to_path, scope) if self.to_path else self.to
        return compare(self.op, actual, target), self.describe(actual, target)

    def describe(self, actual: object, target: object) -> str:
        was = shown(actual)
        if self.op in DATE_OPS and actual is not None and parse_date(actual) is None:
            was += ": not a date"
        head = f"{self.value.source.strip()} {self.op}"
        if self.op in NO_TARGET:
            return f"{head} (was {was})"
        if self.to_path:
            path = self.to_path.source.strip()
            return f"{head} {path} (was {was}, {path} was {shown(target)})"
        literal = self.to.pattern if self.op == "regex" else self.to
        return f"{head} {shown(literal)} (was {was})"


def compile_condition(
    raw: object, path: KeyPath, report: Report, compile_expr: CompileExpr
) -> Condition | None:
    """A Condition, or None after reporting every problem in the tree.

    `report(path, message)` records an error; `compile_expr(source, path)` compiles (and checks)
    a JMESPath expression, reporting and returning None when it is invalid."""
    if isinstance(raw, str):
        expr = compile_expr(raw, path)
        return Truthy(expr) if expr else None
    if not isinstance(raw, dict) or len(raw) != 1:
        found = f" (found: {', '.join(map(str, raw))})" if isinstance(raw, dict) and raw else ""
        report(
            path,
            "a condition is a JMESPath string or a mapping with exactly one of the "
            f"keys and, or, not, match{found}",
        )
        return None
    key, value = next(iter(raw.items()))
    if key not in NODE_KEYS:
        report(path + (key,), unknown_key(key, NODE_KEYS))
        return None
    return COMPILERS[key](key, value, path + (key,), report, compile_expr)


def compile_list(
    key: str, value: object, path: KeyPath, report: Report, compile_expr: CompileExpr
) -> Condition | None:
    if not isinstance(value, list) or not value:
        report(path, f"'{key}' takes a non-empty list of conditions")
        return None
    nodes = [
        compile_condition(item, path + (i,), report, compile_expr) for i, item in enumerate(value)
    ]
    compiled = [node for node in nodes if node is not None]
    if len(compiled) != len(nodes):
        return None
    return All(compiled) if key == "and" else Any(compiled)


def compile_not(
    key: str, value: object, path: KeyPath, report: Report, compile_expr: CompileExpr
) -> Condition | None:
    node = compile_condition(value, path, report, compile_expr)
    return Not(node) if node else None


def compile_match(
    key: str, value: object, path: KeyPath, report: Report, compile_expr: CompileExpr
) -> Condition | None:
    if not isinstance(value, dict):
        report(path, "'match' takes a mapping: {value: <JMESPath>, op: <op>, to: <value>}")
        return None
    ok = True
    for extra in set(value) - set(MATCH_KEYS):
        report(path + (extra,), unknown_key(extra, MATCH_KEYS))
        ok = False
    for needed in ("value", "op"):
        if needed not in value:
            report(path, f"'match' needs '{needed}'")
            ok = False
    expr = compile_expr(value["value"], path + ("value",)) if "value" in value else None
    op = value.get("op")
    if "op" in value and op not in OPS:
        report(
            path + ("op",),
            f"unknown op {shown(op)} (allowed: {', '.join(OPS)})" + did_you_mean(op, OPS),
        )
        return None
    target = compile_target(op, value, path, report, compile_expr) if op else None
    if not (ok and expr and target and op):  # with a target, op is one of OPS
        return None
    return Match(expr, op, *target)


def compile_target(
    op: str, value: dict[str, typing.Any], path: KeyPath, report: Report, compile_expr: CompileExpr
) -> Target | None:
    """(literal, path expression) for `to`, or None after reporting."""
    where = path + ("to",)
    if op in NO_TARGET:
        if "to" in value:
            report(where, f"'{op}' takes no 'to'")
            return None
        return (None, None)
    if "to" not in value:
        report(path, f"'{op}' needs 'to'")
        return None
    to = value["to"]
    if isinstance(to, dict) and op != "regex":
        return compile_path_target(to, where, report, compile_expr)
    return check_literal(op, to, where, report)


def compile_path_target(
    to: dict[str, typing.Any], where: KeyPath, report: Report, compile_expr: CompileExpr
) -> Target | None:
    if set(to) != {"path"}:
        report(where, "'to' is a value, a list, or {path: <JMESPath>}")
        return None
    expr = compile_expr(to["path"], where + ("path",))
    return (None, expr) if expr else None


def check_literal(op: str, to: object, where: KeyPath, report: Report) -> Target | None:
    if op == "regex":
        return compile_regex(to, where, report)
    if op in ("in", "not_in") and not isinstance(to, list):
        report(where, f"'{op}' needs a list")
        return None
    if op in DATE_OPS and parse_date(to) is None:
        report(where, f"'{op}' needs a date (YYYY-MM-DD) or {{path: <JMESPath>}}, not {shown(to)}")
        return None
    if isinstance(to, dict) or (isinstance(to, list) and op not in ("in", "not_in")):
        report(where, f"'{op}' compares with a single value")
        return None
    return (to, None)


def compile_regex(to: object, where: KeyPath, report: Report) -> Target | None:
    if not isinstance(to, str):
        report(where, "'regex' needs a pattern (a string)")
        return None
    try:
        return (re.compile(to), None)
    except re.error as exc:
        report(where, f"invalid regular expression: {exc.msg}{point_at(to, exc.pos)}")
        return None


COMPILERS: dict[str, Callable[[str, object, KeyPath, Report, CompileExpr], Condition | None]] = {
    "and": compile_list,
    "or": compile_list,
    "not": compile_not,
    "match": compile_match,
}
