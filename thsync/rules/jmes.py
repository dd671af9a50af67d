"""JMESPath for rule files: our few extra functions, and compile-time checks.

jmespath.py parses an expression but only discovers an unknown function, a wrong number of
arguments or a misspelt top-level name when it runs. Rule files must fail at load instead, so
`compile_jmespath` walks the parsed tree and checks each of those against what the context
really holds.

Extra functions (all return null for null, so a missing EH field never raises):
- `lower(s)`, `upper(s)`, `trim(s)`: string helpers;
- `date(s)`: `YYYY-MM-DD` from a date or ISO date-time (its date as written, before any time
  zone conversion); null when blank or unparseable;
- `join_names(list)`: the non-blank `name` of each item joined with `;` (TH list fields), null
  when there are none.
"""

import re
from collections.abc import Collection, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import jmespath
from jmespath import exceptions
from jmespath.functions import Functions, signature
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

from thsync.rules.errors import did_you_mean

if TYPE_CHECKING:
    from jmespath.functions import _Signature

NULLABLE_STRING: "_Signature" = {"types": ["string", "null"]}
# A node of jmespath's parsed tree: {"type": …, "value": …, "children": […]}.
Node = Mapping[str, Any]
# A problem found in an expression: (message, offset of the fault or None).
Problem = tuple[str, int | None]


def parse_date(value: object) -> date | None:
    """A date from `YYYY-MM-DD` or an ISO date-time string; None for anything else."""
    if isinstance(value, date):
        return value if not isinstance(value, datetime) else value.date()
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


class RuleFunctions(Functions):
    @signature(NULLABLE_STRING)
    def _func_lower(self, value: str | None) -> str | None:
        return None if value is None else value.lower()

    @signature(NULLABLE_STRING)
    def _func_upper(self, value: str | None) -> str | None:
        return None if value is None else value.upper()

    @signature(NULLABLE_STRING)
    def _func_trim(self, value: str | None) -> str | None:
        return None if value is None else value.strip()

    @signature(NULLABLE_STRING)
    def _func_date(self, value: str | None) -> str | None:
        found = parse_date(value)
        return found.isoformat() if found else None

    @signature({"types": ["array", "null"]})
    def _func_join_names(self, items: list[Any] | None) -> str | None:
        names: list[Any] = [item.get("name") for item in items or [] if isinstance(item, dict)]
        names = [name.strip() for name in names if isinstance(name, str) and name.strip()]
        return ";".join(names) or None


class FastRuleFunctions(RuleFunctions):
    """Our string functions, called without jmespath's generic type checks when the arguments
    are plainly right (text or null); anything else takes the checked path and its errors."""

    TEXT_ONLY = frozenset({"lower", "upper", "trim", "date"})

    # jmespath passes a list (its stub says any Iterable, which len() and [0] could not take).
    def call_function(self, function_name: str, resolved_args: list[Any]) -> Any:  # type: ignore[override]
        if function_name in self.TEXT_ONLY and len(resolved_args) == 1:
            value = resolved_args[0]
            if value is None or isinstance(value, str):
                return self.FUNCTION_TABLE[function_name]["function"](self, value)
        return super().call_function(function_name, resolved_args)


OPTIONS = jmespath.Options(custom_functions=FastRuleFunctions())
FUNCTIONS = RuleFunctions.FUNCTION_TABLE


class ExpressionError(Exception):
    """The JMESPath expression is invalid."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


INTERPRETER = TreeInterpreter(OPTIONS)


def field_path(node: Node) -> tuple[str, ...] | None:
    """('employee', 'id') for a plain dotted path, else None."""
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression":
        parts = [field_path(child) for child in node["children"]]
        if all(parts):
            return tuple(name for part in parts for name in part or ())
    return None


class Expr:
    """A compiled JMESPath expression that remembers its text.

    Most rule expressions are plain dotted paths (`employee.job_title`); those are walked
    directly, with JMESPath's result (null when any step is missing or not an object). The rest
    go through one shared interpreter rather than a new one per search."""

    def __init__(self, source: str, parsed: ParsedResult) -> None:
        self.source, self.parsed = source, parsed
        self.path = field_path(parsed.parsed)

    def search(self, data: Any) -> Any:
        if self.path is None:
            return INTERPRETER.visit(self.parsed.parsed, data)
        for name in self.path:
            if not isinstance(data, dict):
                return None
            data = data.get(name)
        return data

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


def parse_jmespath(source: str) -> Expr:
    """Parse only; raises ExpressionError with the offset of the fault."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("invalid JMESPath: the expression is empty")
    try:
        return Expr(source, jmespath.compile(source))
    except exceptions.LexerError as exc:
        raise ExpressionError(f"invalid JMESPath: {exc.message}", exc.lex_position) from exc
    except exceptions.IncompleteExpressionError as exc:
        raise ExpressionError("invalid JMESPath: incomplete expression", len(source)) from exc
    except exceptions.ParseError as exc:
        raise ExpressionError(f"invalid JMESPath: {exc.msg}", exc.lex_position) from exc


def compile_jmespath(
    source: str, roots: Collection[str] | None = None, fields: Collection[str] | None = None
) -> Expr:
    """Parse and check: functions exist with the right arity; when `roots` is given, every name
    read from the top of the context is one of them; when `fields` is given too, every
    `fields.<name>` is one of those."""
    expr = parse_jmespath(source)
    problems = list(check_functions(expr.parsed.parsed, source))
    if roots is not None:
        problems += check_roots(expr.parsed.parsed, source, set(roots), fields)
    if problems:
        raise ExpressionError(*problems[0])
    return expr


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.get("children", []):
        if isinstance(child, dict):
            yield from walk(child)


def offset_of(source: str, pattern: str) -> int | None:
    found = re.search(pattern, source)
    return found.start() if found else None


def check_functions(tree: Node, source: str) -> Iterator[Problem]:
    for node in walk(tree):
        if node["type"] != "function_expression":
            continue
        name, given = node["value"], len(node["children"])
        at = offset_of(source, rf"\b{re.escape(name)}\s*\(")
        if name not in FUNCTIONS:
            yield f"invalid JMESPath: unknown function {name}(){did_you_mean(name, FUNCTIONS)}", at
            continue
        wanted = FUNCTIONS[name]["signature"]
        variadic = bool(wanted) and wanted[-1].get("variadic")
        if given != len(wanted) and not (variadic and given >= len(wanted)):
            count = f"at least {len(wanted)}" if variadic else str(len(wanted))
            yield f"invalid JMESPath: {name}() takes {count} argument(s), got {given}", at


# Which children of a node are evaluated against the same value as the node itself; the
# others run against each element or against a result, so their names are not top-level.
SAME_INPUT = {
    "subexpression": 1,
    "index_expression": 1,
    "projection": 1,
    "value_projection": 1,
    "filter_projection": 1,
    "pipe": 1,
    "expref": 0,
}


def root_fields(node: Node) -> Iterator[tuple[Node, Node | None]]:
    """(field node, the field read after it or None) for each name read from the top."""
    kind = node["type"]
    if kind == "field":
        yield node, None
        return
    children = [c for c in node.get("children", []) if isinstance(c, dict)]
    if kind == "subexpression" and children[0]["type"] == "field":
        yield children[0], children[1]
        return
    for child in children[: SAME_INPUT.get(kind, len(children))]:
        yield from root_fields(child)


def check_roots(
    tree: Node, source: str, roots: Collection[str], fields: Collection[str] | None
) -> list[Problem]:
    problems: list[Problem] = []
    for node, after in root_fields(tree):
        name = node["value"]
        if name not in roots:
            at = offset_of(source, rf"(?<![.\w]){re.escape(name)}\b")
            known = ", ".join(sorted(roots))
            message = f"unknown name '{name}' (known: {known}){did_you_mean(name, roots)}"
            problems.append((message, at))
        elif name == "fields" and fields is not None and after and after["type"] == "field":
            wanted = after["value"]
            if wanted not in fields:
                at = offset_of(source, rf"\bfields\.{re.escape(wanted)}\b")
                known = ", ".join(sorted(fields)) or "none"
                message = f"unknown field 'fields.{wanted}' (extracted: {known})"
                problems.append((message + did_you_mean(wanted, fields), at))
    return problems
