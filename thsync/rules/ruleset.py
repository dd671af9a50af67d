"""Rule files: what the server does with each Employment Hero event, per tenant.

`rules/standard.yaml` is the standard integration every tenant starts from. `rules/<tenant>.yaml`
says `extends: standard` and overrides only what that customer asked for; a tenant without a file
gets the standard rules as they are. Loading reads the chain of files, merges them, then compiles
everything (see rules_schema), collecting every error in every file before giving up.

Top-level keys (a file that extends another may override any of them):

    extends      the file this one builds on (a name in the rules folder, without .yaml)
    description  free text
    events       EH wire event names rules may trigger on (an extending file adds to them)
    options      in the base file: {name: {default, choices, help}} declarations; in an
                 extending file: {name: value}, checked against the declarations
    intake       JMESPath over the webhook body for event_type, event_id, employee_id and
                 organisation_id (merged per key)
    fetch        default for every rule: {employee, manager, custom_fields} (merged per key)
    extract      default for every rule: name → JMESPath over the context (merged per key)
    payload      default for every rule: TH field → template or literal (merged per key)
    create_only  payload keys sent only when a user is created (user_name always is)
    rules        rule name → rule; first matching rule wins, in order

A rule:

    triggers     list of event names (or "*"), or {event: name or [names], when: condition}
    when         a condition (see thsync.conditions) that must also hold
    fetch        {employee, manager, custom_fields} over the top-level ones, or `none` (the
                 webhook body's `data` is the employee)
    extract      name → JMESPath, over the top-level ones (null removes one)
    action       upsert | update | deactivate | skip
    reason       why, in words support staff read (required for skip)
    payload      TH field → template or literal, over the top-level ones (null leaves it out)
    create_only  replaces the top-level list for this rule
    enabled      false turns the rule off
    before/after the rule this one is placed before or after (for a tenant's new rules)
    description  free text

Merging a tenant file: scalars and lists replace; `intake`, `fetch`, `extract` and `payload`
(at the top and inside a rule) merge per key, and a key set to null removes it; a rule with an
existing name merges into it (its `triggers` and `when` replace the old ones wholly), a new name
adds a rule at the end, or where its `before: <rule>` / `after: <rule>` says; `enabled: false`
turns a rule off. Every error names the file and line where the offending key was written.
"""

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from thsync.core.yamlsafe import KeyPath, YamlError, read_yaml_file
from thsync.rules.errors import Loc, Report, Reporter, RuleError, RuleFileErrors
from thsync.rules.jmes import Expr
from thsync.rules.render import PayloadItem
from thsync.rules.rule import Rule, Shared, compile_rule, inherit
from thsync.rules.schema import (
    CONTEXT_NAMES,
    FETCH_DEFAULT,
    FETCH_KEYS,
    TOP_KEYS,
    check_keys,
    compile_create_only,
    compile_events,
    compile_extract,
    compile_fetch,
    compile_intake,
    compile_payload,
    declare_options,
    expect_mapping,
    set_options,
)

__all__ = ["RuleError", "RuleFileErrors", "RuleSet", "check_files", "load_ruleset"]

STANDARD = "standard"
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_CHAIN = 5
MERGED_PER_KEY = ("intake", "fetch", "extract", "payload")
RULE_MERGED_PER_KEY = ("fetch", "extract", "payload")


@dataclass
class RuleFile:
    path: Path
    name: str  # as messages show it: rules/acme.yaml
    data: dict[str, Any]
    where: dict[KeyPath, Loc]


@dataclass
class RuleSet:
    """One tenant's compiled rules; immutable once loaded, evaluated by thsync.engine."""

    tenant_id: str
    files: list[Path]
    options: dict[str, Any]
    events: tuple[str, ...]
    intake: dict[str, Expr]  # name -> compiled JMESPath
    rules: list[Rule]

    def read_intake(self, body: object) -> dict[str, Any]:
        """event_type, event_id, employee_id and organisation_id from a webhook body (None for
        any the body does not hold)."""
        values: dict[str, Any] = {}
        for name, expr in self.intake.items():
            try:
                values[name] = expr.search(body)
            except Exception:  # noqa: BLE001 - a body is untrusted input; odd shapes read as None
                values[name] = None
        return values

    def intake_source(self, name: str) -> str:
        """The JMESPath text used for `name` (for messages such as "no employee id at …")."""
        return self.intake[name].source

    def fetch_for(self, event_type: str | None) -> dict[str, bool]:
        """What the enabled rules listening to `event_type` need from the EH API."""
        wanted = dict.fromkeys(FETCH_KEYS, False)
        for rule in self.rules:
            if rule.enabled and rule.listens_to(event_type):
                wanted = {key: wanted[key] or rule.fetch[key] for key in FETCH_KEYS}
        return wanted

    def rule(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)


# --- reading -------------------------------------------------------------------------------


def shown_name(rules_dir: Path, path: Path) -> str:
    return f"{rules_dir.resolve().name}/{path.name}"


def read_rule_file(rules_dir: Path, name: str, errors: list[RuleError]) -> RuleFile | None:
    path = rules_dir / f"{name}.yaml"
    shown = shown_name(rules_dir, path)
    try:
        doc = read_yaml_file(path, shown)
    except YamlError as exc:
        errors.append(RuleError(shown, exc.line, exc.column, None, "", exc.message))
        return None
    except OSError as exc:
        errors.append(RuleError(shown, None, None, None, "", f"cannot read: {exc.strerror}"))
        return None
    where = {p: Loc(shown, line, doc.columns.get(p)) for p, line in doc.lines.items()}
    reporter = Reporter(where, shown, errors)
    for problem in doc.problems:  # at its own line: a duplicate key's path is the first one's
        reporter.add(problem.path, problem.message, Loc(shown, problem.line, problem.column))
    if not isinstance(doc.data, dict):
        reporter.add((), f"a rule file is a mapping of {', '.join(TOP_KEYS)}")
        return None
    check_keys(doc.data, TOP_KEYS, (), reporter.add)
    return RuleFile(path, shown, doc.data, where)


def parent_name(
    rules_dir: Path, file: RuleFile, seen: list[str], errors: list[RuleError]
) -> str | None:
    """The name `file` extends, or None (reporting a bad, missing or circular `extends`)."""
    name = file.data.get("extends")
    if name is None:
        return None
    report = Reporter(file.where, file.name, errors).add
    if not isinstance(name, str) or not FILE_NAME.match(name):
        report(("extends",), "must be the name of a rule file in the same folder, e.g. standard")
    elif not (rules_dir / f"{name}.yaml").is_file():
        report(("extends",), f"there is no {shown_name(rules_dir, rules_dir / f'{name}.yaml')}")
    elif name in seen:
        report(("extends",), f"circular: {' → '.join(seen + [name])}")
    elif len(seen) >= MAX_CHAIN:
        report(("extends",), f"more than {MAX_CHAIN} files extend each other")
    else:
        return name
    return None


def read_chain(rules_dir: Path, name: str, errors: list[RuleError]) -> list[RuleFile] | None:
    """The files from the base to `name`; None when one of them cannot be read at all."""
    chain: list[RuleFile] = []
    seen: list[str] = []
    next_name: str | None = name
    while next_name:
        seen.append(next_name)
        file = read_rule_file(rules_dir, next_name, errors)
        if file is None:
            return None
        chain.insert(0, file)
        next_name = parent_name(rules_dir, file, seen, errors)
        if next_name is None and file.data.get("extends") is not None:
            return None  # parent_name reported why; `extends: null` is a base file's
    return chain


# --- merging -------------------------------------------------------------------------------


def replace(
    container: dict[Any, Any],
    where: dict[KeyPath, Loc],
    path: KeyPath,
    value: object,
    source_where: Mapping[KeyPath, Loc],
) -> None:
    container[path[-1]] = value
    for key in [p for p in where if p[: len(path)] == path]:
        del where[key]
    where.update({p: loc for p, loc in source_where.items() if p[: len(path)] == path})


def merge_keys(
    target: dict[Any, Any],
    where: dict[KeyPath, Loc],
    path: KeyPath,
    over: Mapping[Any, Any],
    source_where: Mapping[KeyPath, Loc],
) -> None:
    where[path] = source_where[path]
    for key, value in over.items():
        replace(target, where, path + (key,), value, source_where)


def merge_rule(
    rules: dict[str, Any],
    where: dict[KeyPath, Loc],
    name: str,
    over: object,
    source_where: Mapping[KeyPath, Loc],
) -> None:
    path, current = ("rules", name), rules.get(name)
    if not (isinstance(current, dict) and isinstance(over, dict)):
        replace(rules, where, path, over, source_where)
        return
    where[path] = source_where[path]
    for key, value in over.items():
        both_mappings = isinstance(current.get(key), dict) and isinstance(value, dict)
        if key in RULE_MERGED_PER_KEY and both_mappings:
            merge_keys(current[key], where, path + (key,), value, source_where)
        else:
            replace(current, where, path + (key,), value, source_where)


def place(rules: dict[str, Any], over: Mapping[str, Any]) -> None:
    """Move each rule `over` gives a `before` or `after` to that place."""
    for name, rule in over.items():
        if not isinstance(rule, dict):
            continue
        target = rule.get("before", rule.get("after"))
        if not isinstance(target, str) or target not in rules or target == name:
            continue
        order = [n for n in rules if n != name]
        order.insert(order.index(target) + (0 if "before" in rule else 1), name)
        moved = {n: rules[n] for n in order}
        rules.clear()
        rules.update(moved)


def merge_file(data: dict[str, Any], where: dict[KeyPath, Loc], file: RuleFile) -> None:
    for key, value in file.data.items():
        path, current = (key,), data.get(key)
        if key in ("extends", "options"):
            continue  # options are checked per file (see collect_options)
        if key == "rules" and isinstance(value, dict) and isinstance(current, dict):
            where[path] = file.where[path]
            for name, rule in value.items():
                merge_rule(current, where, name, rule, file.where)
        elif key == "events" and isinstance(value, list) and isinstance(current, list):
            where[path] = file.where[path]
            for index, event in enumerate(value):
                if event not in current:
                    where[path + (len(current),)] = file.where[path + (index,)]
                    current.append(event)
        elif key in MERGED_PER_KEY and isinstance(value, dict) and isinstance(current, dict):
            merge_keys(current, where, path, value, file.where)
        else:
            replace(data, where, path, value, file.where)
        if key == "rules" and isinstance(value, dict) and isinstance(data[key], dict):
            place(data[key], value)


def merge_chain(chain: list[RuleFile]) -> tuple[dict[str, Any], dict[KeyPath, Loc]]:
    data: dict[str, Any] = {}
    where: dict[KeyPath, Loc] = {}
    for file in chain:
        merge_file(data, where, file)
    return data, where


# --- compiling -----------------------------------------------------------------------------


def collect_options(chain: list[RuleFile], errors: list[RuleError]) -> dict[str, Any]:
    base = chain[0]
    declared = declare_options(
        base.data.get("options"), Reporter(base.where, base.name, errors).add
    )
    values = {name: default for name, (default, _) in declared.items()}
    for file in chain[1:]:
        report = Reporter(file.where, file.name, errors).add
        set_options(file.data.get("options"), declared, values, report)
    return values


def compile_shared(data: Mapping[str, Any], rule_names: tuple[str, ...], report: Report) -> Shared:
    extract: dict[str, Expr] = inherit(
        {}, compile_extract(data.get("extract"), ("extract",), report)
    )
    known = set(CONTEXT_NAMES) | set(extract)
    payload: dict[str, PayloadItem] = inherit(
        {}, compile_payload(data.get("payload"), known, ("payload",), report)
    )
    create_only = compile_create_only(data.get("create_only", []), ("create_only",), report)
    return Shared(
        events=compile_events(data.get("events"), report),
        fetch=compile_fetch(data.get("fetch"), FETCH_DEFAULT, ("fetch",), report),
        extract=extract,
        payload=payload,
        create_only=create_only,
        rule_names=rule_names,
    )


def compile_chain(tenant_id: str, chain: list[RuleFile], errors: list[RuleError]) -> RuleSet:
    data, where = merge_chain(chain)
    reporter = Reporter(where, chain[-1].name, errors)
    options = collect_options(chain, errors)
    intake = compile_intake(data.get("intake"), reporter.add)
    raw_rules = expect_mapping(data.get("rules"), ("rules",), reporter.add, "rule name → rule")
    if not raw_rules and isinstance(data.get("rules"), dict | None):
        reporter.add(("rules",) if "rules" in data else (), "there are no rules")
    shared = compile_shared(data, tuple(raw_rules), reporter.add)
    rules = [
        compile_rule(name, raw, shared, reporter.add, reporter.locate(("rules", name)))
        for name, raw in raw_rules.items()
    ]
    files = [file.path for file in chain]
    # Whatever failed to compile is None here, after an error was reported: load_ruleset
    # raises for those errors, so a rule set that is used has no None in it.
    return RuleSet(
        tenant_id,
        files,
        options,
        shared.events,
        cast(dict[str, Expr], intake),
        cast(list[Rule], rules),
    )


def load_ruleset(rules_dir: str | os.PathLike[str], tenant_id: str) -> RuleSet:
    """The tenant's rules: rules/<tenant_id>.yaml when there is one, else rules/standard.yaml.
    Raises RuleFileErrors listing every error in every file of the chain."""
    rules_dir = Path(rules_dir)
    if not isinstance(tenant_id, str) or not FILE_NAME.match(tenant_id):
        message = f"{tenant_id!r} is not a tenant id (lower-case letters, digits, - or _)"
        raise RuleFileErrors([RuleError(rules_dir.resolve().name, None, None, None, "", message)])
    name = tenant_id if (rules_dir / f"{tenant_id}.yaml").is_file() else STANDARD
    errors: list[RuleError] = []
    chain = read_chain(rules_dir, name, errors)
    ruleset = compile_chain(tenant_id, chain, errors) if chain else None
    if errors:
        raise RuleFileErrors(sorted(errors, key=lambda e: (e.file, e.line or 0)))
    assert ruleset is not None  # read_chain gives None only after reporting why
    return ruleset


def check_files(rules_dir: str | os.PathLike[str], tenant_ids: Iterable[str]) -> list[RuleError]:
    """Every error in the rules of these tenants, in standard.yaml and in any other rule file
    in the folder (a file no tenant uses yet is checked too)."""
    rules_dir = Path(rules_dir)
    names = [STANDARD, *tenant_ids, *sorted(p.stem for p in rules_dir.glob("*.yaml"))]
    found: list[RuleError] = []
    for name in dict.fromkeys(names):
        try:
            load_ruleset(rules_dir, name)
        except RuleFileErrors as exc:
            found.extend(error for error in exc.errors if error not in found)
    return found
