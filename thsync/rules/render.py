"""The TH payload: each key is a Jinja template (or a YAML literal), rendered in a sandbox.

Rule files are edited by support staff, not developers, so templates run in Jinja's
ImmutableSandboxedEnvironment (no attribute tricks, no mutation) with StrictUndefined: a
misspelt name fails loudly instead of quietly sending an empty field to Tribal Habits. Names are
also checked at load against what the context will hold.

A value is one of:
- a YAML literal (true, false, a number, null): sent as is (null: the key is left out);
- a string that is exactly one `{{ expression }}`: the expression's own value (a boolean stays a
  boolean); None leaves the key out, so a missing EH field never blanks a TH field;
- any other string: a template rendered to text, where None prints as "".

After rendering, `email` and `manager_email` are trimmed and lower-cased and `user_name` is
trimmed (TH treats " x" and "x" as two users), and every value must be JSON.
"""

import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from thsync.core.yamlsafe import KeyPath
from thsync.rules.errors import Report, did_you_mean, point_at
from thsync.tribal_habits.user import normalise_value


def _finalize(value: object) -> object:
    return "" if value is None else value


ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, finalize=_finalize, autoescape=False, keep_trailing_newline=False
)
ONE_EXPRESSION = re.compile(r"\s*\{\{-?(?P<inner>.*?)-?\}\}\s*", re.S)
NOT_FOUND = re.compile(r"No (filter|test) named '([^']+)'")


class RenderError(Exception):
    """A payload value could not be rendered."""


class Literal:
    def __init__(self, value: bool | int | float | None) -> None:
        self.value, self.source = value, value

    def render(self, variables: Mapping[str, Any]) -> bool | int | float | None:
        return self.value


def names_read(source: str) -> tuple[str, ...]:
    return tuple(sorted(meta.find_undeclared_variables(ENV.parse(source))))


def pick(variables: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Only the names a template reads: Jinja copies every variable into each render's
    context, and a payload renders a dozen small templates per event."""
    return {name: variables[name] for name in names if name in variables}


class Expression:
    def __init__(self, source: str, inner: str) -> None:
        self.source = source
        self.compiled = ENV.compile_expression(inner, undefined_to_none=False)
        self.names = names_read(f"{{{{{inner}}}}}")

    def render(self, variables: Mapping[str, Any]) -> Any:
        value = self.compiled(**pick(variables, self.names))
        if isinstance(value, Undefined):
            str(value)  # raises UndefinedError with Jinja's own message
        return value


class Text:
    def __init__(self, source: str) -> None:
        self.source = source
        self.template = ENV.from_string(source)
        self.names = names_read(source)

    def render(self, variables: Mapping[str, Any]) -> str:
        return self.template.render(**pick(variables, self.names))


# A compiled payload value.
PayloadItem = Literal | Expression | Text


def single_expression(source: str) -> str | None:
    found = ONE_EXPRESSION.fullmatch(source)
    inner = found and found.group("inner")
    if not inner or "{{" in inner or "}}" in inner:
        return None
    return inner


def template_error(source: str, exc: TemplateError) -> str:
    message = (getattr(exc, "message", None) or str(exc)).rstrip(".")
    missing = NOT_FOUND.search(message)
    if missing:
        known = ENV.filters if missing.group(1) == "filter" else ENV.tests
        message += did_you_mean(missing.group(2), known)
    return f"invalid template: {message}{point_at(source, None)}"


def unknown_names(source: str, known: Collection[str]) -> list[str]:
    names = meta.find_undeclared_variables(ENV.parse(source))
    return sorted(name for name in names if name not in known and name not in ENV.globals)


def compile_value(
    raw: object, known: Collection[str], path: KeyPath, report: Report
) -> PayloadItem | None:
    """A compiled payload value, or None after reporting. `known` are the names the template may
    read."""
    if raw is None or isinstance(raw, bool | int | float):
        return Literal(raw)
    if not isinstance(raw, str):
        report(path, "a payload value is a template string, true, false, a number or null")
        return None
    inner = single_expression(raw)
    try:
        item = Expression(raw, inner) if inner else Text(raw)
        missing = unknown_names(f"{{{{{inner}}}}}" if inner else raw, known)
    except TemplateError as exc:
        report(path, template_error(raw, exc))
        return None
    for name in missing:
        hint = did_you_mean(name, known)
        report(path, f"unknown name '{name}' (known: {', '.join(sorted(known))}){hint}")
    return None if missing else item


def render_value(key: str, item: PayloadItem, variables: Mapping[str, Any]) -> Any:
    """The value to send, None to leave the key out; raises RenderError."""
    try:
        value = normalise_value(key, item.render(variables))
    except Exception as exc:  # a template is support-written code: any failure is reported
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc
    if value is None or isinstance(value, str | bool | int):
        return value  # plainly JSON: the common case skips the encoder
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RenderError(f"the value is not JSON ({type(value).__name__})") from exc
    return value


def render_payload(
    items: Mapping[str, PayloadItem], variables: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """(payload, problems): every key is tried, so one bad mapping reports with the others."""
    payload: dict[str, Any] = {}
    problems: list[str] = []
    for key, item in items.items():
        try:
            value = render_value(key, item, variables)
        except RenderError as exc:
            problems.append(f"payload.{key}: {exc}")
            continue
        if value is not None:
            payload[key] = value
    return payload, problems
