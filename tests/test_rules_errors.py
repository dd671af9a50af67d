"""Rule file errors, asserted exactly (see tests/cases/rules/errors.yaml), plus the safety limits
of the YAML loader that are easier to build in code."""

import shutil
from pathlib import Path

import pytest
import yaml

from thsync.rules.ruleset import RuleFileErrors, check_files, load_ruleset

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def error_cases():
    spec = yaml.safe_load((TESTS / "cases" / "rules" / "errors.yaml").read_text())
    for case in spec["error_cases"]:
        yield pytest.param(case, id=case["name"])


def write_rules(tmp_path: Path, files: dict) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(REPO / "rules" / "standard.yaml", folder / "standard.yaml")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def reported(folder: Path, tenants) -> str:
    return "\n".join(str(error) for error in check_files(folder, tenants))


@pytest.mark.parametrize("case", list(error_cases()))
def test_error_text(tmp_path, case):
    folder = write_rules(tmp_path, case["files"])
    assert reported(folder, case.get("tenants", ["acme"])) == case["errors"].rstrip("\n")


def test_load_raises_with_every_error(tmp_path):
    folder = write_rules(tmp_path, {"acme.yaml": "extends: standard\nrules: {a: 1, b: 2}\n"})
    with pytest.raises(RuleFileErrors) as caught:
        load_ruleset(folder, "acme")
    assert [str(e) for e in caught.value.errors] == [
        "rules/acme.yaml:2: rule 'a': a rule is a mapping of description, enabled, before, after, "
        "triggers, when, fetch, extract, action, reason, payload, create_only",
        "rules/acme.yaml:2: rule 'b': a rule is a mapping of description, enabled, before, after, "
        "triggers, when, fetch, extract, action, reason, payload, create_only",
    ]
    error = caught.value.errors[0]
    assert (error.file, error.line, error.rule, error.key_path) == ("rules/acme.yaml", 2, "a", "")


def test_too_large_file(tmp_path):
    text = "extends: standard\n" + ("# " + "x" * 1000 + "\n") * 300
    folder = write_rules(tmp_path, {"acme.yaml": text})
    assert reported(folder, ["acme"]) == (
        f"rules/acme.yaml: the file is {len(text)} bytes, over the limit of 262144"
    )


def test_alias_bomb(tmp_path):
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    bomb += [
        f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    folder = write_rules(tmp_path, {"acme.yaml": "extends: standard\n" + "\n".join(bomb) + "\n"})
    assert reported(folder, ["acme"]) == (
        "rules/acme.yaml:3: aliases (*name) are not allowed: write the value out (a tenant file "
        "reuses standard.yaml through `extends`)"
    )


def test_not_a_tenant_id(tmp_path):
    folder = write_rules(tmp_path, {})
    with pytest.raises(RuleFileErrors) as caught:
        load_ruleset(folder, "../etc/passwd")
    assert str(caught.value) == (
        "rules: '../etc/passwd' is not a tenant id (lower-case letters, digits, - or _)"
    )


def test_the_repository_rules_are_valid():
    assert check_files(REPO / "rules", ["demo"]) == []
