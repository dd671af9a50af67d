"""How rule file problems are reported: a trail from file and line to the key, then the fault.

    rules/acme.yaml:14: rule 'new-starters' → extract.email: invalid JMESPath: …
      employee.company_email ||| x
                               ^

Every problem in every file is collected (support fixes a file in one pass, not one error at a
time), so compile steps take a `report(path, message)` callback instead of raising.
"""

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from thsync.core.yamlsafe import KeyPath

# The callback compile steps report through: report(key path, message).
Report = Callable[[KeyPath, str], None]


@dataclass(frozen=True)
class Loc:
    """Where a key was written."""

    file: str
    line: int | None
    column: int | None = None


@dataclass(frozen=True)
class RuleError:
    file: str
    line: int | None
    column: int | None
    rule: str | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        trail = [f"rule '{self.rule}'"] if self.rule else []
        trail += [self.key_path] if self.key_path else []
        if not trail:
            return f"{where}: {self.message}"
        return f"{where}: {' → '.join(trail)}: {self.message}"


class RuleFileErrors(Exception):
    """The rule files are invalid."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def did_you_mean(name: object, choices: Iterable[object]) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_key(key: object, allowed: Sequence[str]) -> str:
    return f"unknown key (allowed: {', '.join(allowed)}){did_you_mean(key, allowed)}"


def point_at(source: str, offset: int | None) -> str:
    """The line of `source` holding `offset` with a caret under it; the whole source when the
    position is unknown."""
    if not source.strip():
        return ""
    if offset is None:
        return "\n  " + source.strip().replace("\n", "\n  ")
    offset = min(max(offset, 0), len(source))
    start = source.rfind("\n", 0, offset) + 1
    end = source.find("\n", offset)
    line = source[start : end if end != -1 else len(source)]
    return f"\n  {line}\n  {' ' * (offset - start)}^"


def format_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class Reporter:
    """Collects RuleErrors for one rule set, resolving each key path to where it was written."""

    def __init__(
        self, where: dict[KeyPath, Loc], default_file: str, errors: list[RuleError] | None = None
    ) -> None:
        self.where = where  # key path -> Loc
        self.default_file = default_file
        self.errors: list[RuleError] = [] if errors is None else errors

    def locate(self, path: KeyPath) -> Loc:
        for end in range(len(path), -1, -1):
            if path[:end] in self.where:
                return self.where[path[:end]]
        return Loc(self.default_file, None)

    def add(self, path: KeyPath, message: str, loc: Loc | None = None) -> None:
        """Record `message` for `path`, at `loc` or else where the path was written."""
        loc = loc or self.locate(path)
        in_rule = path[:1] == ("rules",) and len(path) > 1
        rule, rest = (path[1], path[2:]) if in_rule else (None, path)
        error = RuleError(loc.file, loc.line, loc.column, rule, format_path(rest), message)
        if error not in self.errors:
            self.errors.append(error)

    def under(self, prefix: KeyPath) -> Report:
        """A `report(path, message)` callback for paths relative to `prefix`."""
        return lambda path, message: self.add(prefix + tuple(path), message)
