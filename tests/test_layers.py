"""The floor plan, kept by a test: which part may import which, no import cycle, no import hidden
inside a function, Flask only where the web is, the sandboxes only in tests and the development
runner. docs/ARCHITECTURE.md draws the same layers.

The imports are read from the source with `ast`, so nothing is run; `if TYPE_CHECKING:` blocks
are not imports at run time and are left out.
"""

import ast
from pathlib import Path

import pytest

from tests.import_graph import (
    edges_of,
    imports,
    module_name,
    parse,
    part_of,
    read_tree,
    strongly_connected,
)

ROOT = Path(__file__).resolve().parents[1]

# Each part, lowest first, with the parts it may import (itself always). A part is a
# sub-package of thsync, or one of its top-level modules.
CLIENTS = {"core", "rules", "sources", "tribal_habits", "store"}  # they know only core
DOMAIN = {*CLIENTS, "config", "people", "alerts"}
LAYERS = {
    "core": set(),
    "rules": {"core"},
    "store": {"core"},
    "tribal_habits": {"core"},
    "sources": {"core"},
    "config": {"core", "rules", "sources"},
    "people": {*CLIENTS, "config"},
    "alerts": {"core", "config", "store", "people"},
    "pipeline": DOMAIN,
    "services": {*DOMAIN, "pipeline"},
    "web": {*DOMAIN, "pipeline", "services"},
    "cli": {*DOMAIN, "pipeline", "services"},
    "devserver": {"core", "sources", "web", "services"},
}
# A module a part may import beyond its layers: the TH user model (fields, normalising,
# comparing) is plain data; the rules render payloads of its fields.
ALSO_ALLOWED = {"rules": {"thsync.tribal_habits.user"}}
FLASK_PARTS = {"web", "cli", "alerts", "devserver"}
FLASK_MODULES = {"thsync.pipeline.intake"}  # the webhook endpoint is a Flask blueprint
FLASK = {"flask", "flask_mail", "werkzeug"}
# Function-level imports that are not there to dodge a cycle, each with its reason.
LATE_IMPORTS = {
    ("server", "thsync.devserver"): "development only: keeps the sandboxes out of production",
}


def test_every_part_imports_only_the_parts_below_it(graph):
    wrong = []
    for module, targets in graph.items():
        part = part_of(module)
        if part is None:
            continue
        allowed = LAYERS[part] | {part}
        also = ALSO_ALLOWED.get(part, set())
        wrong += [
            f"{module} -> {t}"
            for t in targets
            if part_of(t) not in allowed | {None} and t not in also
        ]
    assert wrong == []


def test_the_th_user_model_imports_nothing_of_ours_but_core(graph):
    """The rules may read it only because it is plain data below them."""
    assert {part_of(t) for t in graph["thsync.tribal_habits.user"]} <= {"core"}


def test_every_part_has_a_place_in_the_layers(graph):
    parts = {part_of(module) for module in graph} - {None}
    assert parts <= set(LAYERS), parts - set(LAYERS)


def test_no_import_cycle(graph):
    assert strongly_connected(graph) == []


def test_no_import_inside_a_function_but_the_listed_ones():
    late = []
    for module, tree in sources().items():
        for name, top in imports(tree, module):
            if not top and not listed_late(module, name):
                late.append(f"{module}: {name}")
    assert late == []


def sources() -> dict[str, ast.Module]:
    return parse(read_tree())


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return edges_of(sources())


def listed_late(module: str, name: str) -> bool:
    return any(
        module == where and (name == what or name.startswith(what + "."))
        for where, what in LATE_IMPORTS
    )


def test_flask_only_where_the_web_is():
    wrong = []
    for module, tree in sources().items():
        part = part_of(module)
        if part in FLASK_PARTS or module in FLASK_MODULES or part is None:
            continue
        wrong += [f"{module}: {n}" for n, _ in imports(tree, module) if n.split(".")[0] in FLASK]
    assert wrong == []


def test_only_tests_bench_and_the_development_runner_import_the_sandboxes():
    wrong = []
    for module, tree in sources().items():
        names = [n for n, _ in imports(tree, module) if n.split(".")[0] == "sandboxes"]
        if names and module != "thsync.devserver":
            wrong.append(module)
    assert wrong == []


def test_the_sandboxes_know_nothing_of_the_product():
    """They stand in for EH and TH, which know nothing of us either."""
    wrong = []
    for path in (ROOT / "sandboxes").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for name, _ in imports(tree, module_name(str(path.relative_to(ROOT)))):
            if name.split(".")[0] in {"thsync", "server"}:
                wrong.append(f"{path.name}: {name}")
    assert wrong == []


def test_no_module_over_400_lines():
    long = {path: n for path, text in read_tree().items() if (n := len(text.splitlines())) > 400}
    assert long == {}


# The checks above must be able to fail: each is tried once on a small made-up graph.


def test_a_cycle_is_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(edges) == [["a", "b", "c"]]


def test_an_import_inside_a_function_is_found():
    tree = ast.parse("import os\ndef f():\n    from thsync.core import clock\n")
    assert imports(tree, "thsync.x") == [
        ("os", True),
        ("thsync.core.clock", False),
        ("thsync.core", False),
    ]


def test_a_type_checking_import_is_not_a_run_time_import():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask\n")
    assert ("flask", True) not in imports(tree, "thsync.x")
