"""Bounded, safe YAML loading that keeps where every key was written.

Support staff edit rule and tenant files by hand, so a mistake must be reported at its line, and a
file must never be able to run code or exhaust memory:

- only PyYAML's SafeLoader grammar, and only plain-data tags (no `!!python/…`);
- a size limit, checked before parsing;
- no aliases (`*name`): a handful of nested aliases expands into millions of nodes ("billion
  laughs"), and rule files reuse each other through `extends` instead;
- duplicate keys are errors (PyYAML silently keeps the last one);
- dates stay the strings they were written as, so values compare the way JSON would.

The node tree is converted here rather than by PyYAML's constructor, so each key path keeps the
1-based line and column where it was written. Paths are tuples of keys and list indexes, e.g.
`("rules", "leavers", "triggers", 0)`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 40
CORE = "tag:yaml.org,2002:"
PLAIN_TAGS = {CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp")}
DATA_TAGS = PLAIN_TAGS | {CORE + "seq", CORE + "map"}

# Where a value sits in the file: mapping keys and list indexes from the top.
KeyPath = tuple[Any, ...]


class YamlError(Exception):
    """The file is not safe, well-formed YAML."""

    def __init__(
        self, file: str, line: int | None, message: str, column: int | None = None
    ) -> None:
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
        self.file, self.line, self.column, self.message = file, line, column, message
        self.path: KeyPath = ()


@dataclass
class Document:
    """A converted YAML file: the data, where each key path was written, and the problems that
    did not stop the conversion (duplicate keys, refused tags)."""

    data: object
    lines: dict[KeyPath, int] = field(default_factory=dict)
    columns: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[YamlError] = field(default_factory=list)


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise YamlError(
                self.name,
                mark.line + 1,
                "aliases (*name) are not allowed: write the value out "
                "(a tenant file reuses standard.yaml through `extends`)",
                mark.column + 1,
            )
        return super().compose_node(parent, index)


def read_bounded(path: Path, name: str, max_bytes: int) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        size = max(path.stat().st_size, len(raw))
        raise YamlError(name, None, f"the file is {size} bytes, over the limit of {max_bytes}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(name, None, f"the file is not UTF-8 text ({exc.reason})") from exc


def compose(text: str, name: str) -> yaml.Node | None:
    """The single document's node tree (None for an empty file)."""
    loader = _NoAliasLoader(text)
    loader.name = name
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        said = ", ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlError(name, line, f"invalid YAML: {said}", column) from exc
    except RecursionError as exc:
        raise YamlError(name, None, "invalid YAML: nested too deeply") from exc
    finally:
        loader.dispose()


class _Converter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.doc = Document(None)
        self.scalars = yaml.SafeLoader("")

    def problem(self, path: KeyPath, node: yaml.Node, message: str) -> None:
        error = YamlError(self.name, node.start_mark.line + 1, message, node.start_mark.column + 1)
        error.path = path
        self.doc.problems.append(error)

    def mark(self, path: KeyPath, node: yaml.Node) -> None:
        self.doc.lines[path] = node.start_mark.line + 1
        self.doc.columns[path] = node.start_mark.column + 1

    def convert(self, node: yaml.Node, path: KeyPath) -> Any:
        if len(path) > MAX_DEPTH:
            raise YamlError(self.name, node.start_mark.line + 1, "nested too deeply")
        if node.tag not in DATA_TAGS:
            shown = node.tag.replace(CORE, "!!")
            self.problem(path, node, f"tag {shown} is not allowed: rule files hold plain data only")
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return self.sequence(node, path)
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == CORE + "merge":
                self.problem(path, key_node, "merge keys (<<) are not allowed")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(path, key_node, "a key must be a plain name, not a list or mapping")
                continue
            key = key_node.value
            if key in out:
                message = f"duplicate key (first written on line {first_line[key]})"
                self.problem(path + (key,), key_node, message)
                continue
            self.mark(path + (key,), key_node)
            first_line[key] = key_node.start_mark.line + 1
            out[key] = self.convert(value_node, path + (key,))
        return out

    def sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        items: list[Any] = []
        for index, item in enumerate(node.value):
            self.mark(path + (index,), item)
            items.append(self.convert(item, path + (index,)))
        return items

    def scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        if node.tag in (CORE + "str", CORE + "timestamp"):
            return node.value
        kind = node.tag[len(CORE) :]
        return getattr(self.scalars, f"construct_yaml_{kind}")(node)


def parse_yaml(text: str, name: str) -> Document:
    """Convert YAML text; raises YamlError for anything that stops parsing."""
    root = compose(text, name)
    converter = _Converter(name)
    if root is not None:
        converter.mark((), root)
        converter.doc.data = converter.convert(root, ())
    return converter.doc


def read_yaml_file(path: Path, name: str | None = None, max_bytes: int = MAX_BYTES) -> Document:
    """Read and convert one file; `name` is how messages call it (default: the path)."""
    name = name or str(path)
    return parse_yaml(read_bounded(Path(path), name, max_bytes), name)


def load_yaml_file(path: Path, max_bytes: int = MAX_BYTES) -> tuple[object, dict[KeyPath, int]]:
    """(data, {key path: line}) for callers that stop at the first problem."""
    doc = read_yaml_file(path, max_bytes=max_bytes)
    if doc.problems:
        first = doc.problems[0]
        where = ".".join(str(part) for part in first.path)
        message = f"{where}: {first.message}" if where else first.message
        raise YamlError(first.file, first.line, message, first.column)
    return doc.data, doc.lines
