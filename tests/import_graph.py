"""The package's import graph, read from the source with `ast` (nothing is run): the modules, who
imports whom at run time, the cycles. tests/test_layers.py checks it against the layers; run
this file to see the figures, today's or those of any commit:

    python -m tests.import_graph              # the working tree
    python -m tests.import_graph --at e802e5c # as the package stood at that commit

`if TYPE_CHECKING:` blocks are not run-time imports and are left out.
"""

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str | None:
    """The part a module belongs to: a sub-package of thsync, or a top-level module of it."""
    bits = module.split(".")
    return bits[1] if bits[0] == "thsync" and len(bits) > 1 else None


def read_tree(at: str | None = None) -> dict[str, str]:
    """{path: text} of the package and server.py, in the working tree or at a commit."""
    if at is None:
        files = [*(ROOT / "thsync").rglob("*.py"), ROOT / "server.py"]
        return {str(f.relative_to(ROOT)): f.read_text() for f in files}
    listed = git("ls-tree", "-r", "--name-only", at, "--", "thsync", "server.py").split()
    return {path: git("show", f"{at}:{path}") for path in listed if path.endswith(".py")}


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def parse(files: dict[str, str]) -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(text, path) for path, text in files.items()}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.Module, module: str) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import the module makes at run time."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                continue
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.extend((name, top) for name in from_targets(child, module))
            visit(child, inner)

    visit(tree, True)
    return found


def from_targets(node: ast.ImportFrom, module: str) -> list[str]:
    base = node.module or ""
    if node.level:
        package = module.split(".")[: -node.level]
        base = ".".join([*package, base] if base else package)
    # `from thsync.web import tenants` imports the module thsync.web.tenants.
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def known(name: str, modules: dict) -> str | None:
    """The project module an import names (a package, a module, or a name inside one)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def edges_of(trees: dict[str, ast.Module], *, top_only: bool = True) -> dict[str, set[str]]:
    """module -> the project modules it imports (at module level, unless top_only is False)."""
    edges: dict[str, set[str]] = {module: set() for module in trees}
    for module, tree in trees.items():
        for name, top in imports(tree, module):
            target = known(name, trees)
            if target and target != module and (top or not top_only):
                edges[module].add(target)
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: every group of two or more modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return groups


def summary(files: dict[str, str]) -> dict:
    trees = parse(files)
    package_modules = [m for m in trees if m.startswith("thsync.") and not m.endswith("__init__")]
    parts: dict[str, int] = {}
    for module in package_modules:
        if "." in module.removeprefix("thsync."):
            parts[part_of(module) or ""] = parts.get(part_of(module) or "", 0) + 1
    late = {
        (module, known(name, trees))
        for module, tree in trees.items()
        for name, top in imports(tree, module)
        if not top and known(name, trees)
    }
    lines = {path: len(text.splitlines()) for path, text in files.items()}
    largest = max(lines, key=lambda path: lines[path])
    return {
        "modules": len(files),
        "flat modules in thsync/": sum(1 for p in files if p.count("/") == 1),
        "sub-packages (modules)": dict(sorted(parts.items())),
        "imports between modules": sum(len(t) for t in edges_of(trees).values()),
        "function-level imports of our own modules": len(late),
        "cycles (with late imports counted)": strongly_connected(edges_of(trees, top_only=False)),
        "cycles": strongly_connected(edges_of(trees)),
        "largest module": f"{largest} ({lines[largest]} lines)",
        "modules over 400 lines": sorted(p for p, n in lines.items() if n > 400),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--at", help="a commit; default: the working tree")
    args = parser.parse_args()
    for name, value in summary(read_tree(args.at)).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
