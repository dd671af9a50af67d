"""thsync.core.yamlsafe: plain data only, bounded, and every key's line kept."""

import pytest

from thsync.core.yamlsafe import YamlError, load_yaml_file, parse_yaml, read_yaml_file

DOC = """\
name: Acme
rules:
  updates:
    triggers: [employee_updated, employee_created]
    when: "x == 'y'"
"""


def test_lines_and_columns_of_every_key_path():
    doc = parse_yaml(DOC, "rules/acme.yaml")
    assert doc.lines == {
        (): 1,
        ("name",): 1,
        ("rules",): 2,
        ("rules", "updates"): 3,
        ("rules", "updates", "triggers"): 4,
        ("rules", "updates", "triggers", 0): 4,
        ("rules", "updates", "triggers", 1): 4,
        ("rules", "updates", "when"): 5,
    }
    assert doc.columns[("rules", "updates", "triggers", 1)] == 34
    assert doc.problems == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: 2026-11-28", "2026-11-28"),  # dates stay as written (JSON has no dates)
        ("a: 2026-11-28T09:30:00+11:00", "2026-11-28T09:30:00+11:00"),
        ("a: yes", True),
        ("a: false", False),
        ("a: 42", 42),
        ("a: 1.5", 1.5),
        ("a: null", None),
        ("a: ~", None),
        ("a: 'x'", "x"),
        ("a: !!str 42", "42"),
        ("a: [1, {b: c}]", [1, {"b": "c"}]),
    ],
)
def test_plain_values(text, value):
    assert parse_yaml(text, "f.yaml").data == {"a": value}


def test_keys_are_always_text():
    assert parse_yaml("1: a\ntrue: b\nnull: c\n", "f.yaml").data == {
        "1": "a",
        "true": "b",
        "null": "c",
    }


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "a: 1\nb: 2\na: 3\n",
            ["f.yaml:3: duplicate key (first written on line 1)"],
        ),
        (
            "a: !!python/object/apply:os.system ['rm -rf /']\nb: !!binary aGk=\nc: !!set {x}\n",
            [
                "f.yaml:1: tag !!python/object/apply:os.system is not allowed: rule files hold "
                "plain data only",
                "f.yaml:2: tag !!binary is not allowed: rule files hold plain data only",
                "f.yaml:3: tag !!set is not allowed: rule files hold plain data only",
            ],
        ),
        ("a: {b: 1}\n<<: {c: 2}\n", ["f.yaml:2: merge keys (<<) are not allowed"]),
        (
            "? [a, b]\n: 1\n",
            ["f.yaml:1: a key must be a plain name, not a list or mapping"],
        ),
    ],
)
def test_problems_do_not_stop_the_conversion(text, problems):
    doc = parse_yaml(text, "f.yaml")
    assert [str(p) for p in doc.problems] == problems


def test_refused_tag_leaves_null_in_its_place():
    doc = parse_yaml("a: !!python/name:os.system\nb: 2\n", "f.yaml")
    assert doc.data == {"a": None, "b": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &x [1]\nb: *x\n",
            "f.yaml:2: aliases (*name) are not allowed: write the value out (a tenant file "
            "reuses standard.yaml through `extends`)",
        ),
        ("a: b: c\n", "f.yaml:1: invalid YAML: mapping values are not allowed here"),
        (
            "a: 1\n---\nb: 2\n",
            "f.yaml:2: invalid YAML: expected a single document in the stream, but found "
            "another document",
        ),
        ("a: " + "[" * 60 + "]" * 60 + "\n", "f.yaml:1: nested too deeply"),
        ("[" * 20000, "f.yaml: invalid YAML: nested too deeply"),
    ],
)
def test_fatal_errors(text, message):
    with pytest.raises(YamlError) as caught:
        parse_yaml(text, "f.yaml")
    assert str(caught.value) == message


def test_empty_file_is_none():
    assert parse_yaml("# only a comment\n", "f.yaml").data is None


def test_size_limit_is_checked_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(YamlError) as caught:
        read_yaml_file(path, "big.yaml", max_bytes=1000)
    assert str(caught.value) == "big.yaml: the file is 2004 bytes, over the limit of 1000"


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: Ren\xe9\n".encode("latin-1"))
    with pytest.raises(YamlError) as caught:
        read_yaml_file(path, "latin.yaml")
    assert str(caught.value) == "latin.yaml: the file is not UTF-8 text (invalid continuation byte)"


def test_load_yaml_file_returns_data_and_lines(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(DOC)
    data, lines = load_yaml_file(path)
    assert data["rules"]["updates"]["when"] == "x == 'y'"
    assert lines[("rules", "updates", "when")] == 5


def test_load_yaml_file_stops_at_the_first_problem_with_its_key(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("webhook:\n  token: a\n  token: b\n")
    with pytest.raises(YamlError) as caught:
        load_yaml_file(path)
    assert (caught.value.line, caught.value.message) == (
        3,
        "webhook.token: duplicate key (first written on line 2)",
    )
