"""YAML read into plain data that remembers, for each key path, the line it came from.

Mappings become dicts and sequences tuples (settings hold tuples); a key given
twice is noted rather than silently won by the last one; ``${NAME}`` and
``${NAME:-default}`` in any string take their value from the environment, so
secrets stay out of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from conf.schema import EnvText, Unset

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DUPLICATE = "duplicate key"
# The last step of a key path: ".name" or "[3]".
_LAST_STEP = re.compile(r"(\.[^.\[]+|\[\d+\])$")


class _Map(dict[Any, Any]):
    key_lines: dict[Any, int]


class _Seq(list[Any]):
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings and lists remember the lines they came from."""

    duplicate_keys: list[tuple[str, int]]


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            loader.duplicate_keys.append((str(key), key_node.start_mark.line + 1))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)
# Dates stay strings: the schema decides what a value means.
_LineLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Tree:
    """One document as plain data, the line of each key path, and what was wrong."""

    data: Any = None
    lines: dict[str, int] = field(default_factory=dict)
    # (key path, line, text): keys given twice.
    problems: list[tuple[str, int, str]] = field(default_factory=list)

    def line_of(self, path: str) -> int:
        """The line of ``path``, or of the nearest key above it that the file has."""
        while path:
            if path in self.lines:
                return self.lines[path]
            shorter = _LAST_STEP.sub("", path)
            path = shorter if shorter != path else ""
        return 1


def read(text: str, environ: Mapping[str, str]) -> Tree:
    """Parse ``text``; raises yaml.YAMLError when it is not YAML at all."""
    loader = _LineLoader(text)
    loader.duplicate_keys = []
    try:
        raw = loader.get_single_data()
    finally:
        loader.dispose()
    tree = Tree()
    tree.problems = [(key, line, DUPLICATE) for key, line in loader.duplicate_keys]
    tree.data = _Plain(tree, environ).walk({} if raw is None else raw, "", 1)
    return tree


class _Plain:
    def __init__(self, tree: Tree, environ: Mapping[str, str]):
        self.tree = tree
        self.environ = environ

    def walk(self, value: Any, path: str, line: int) -> Any:
        self.tree.lines.setdefault(path, line)
        if isinstance(value, dict):
            key_lines = getattr(value, "key_lines", {})
            prefix = f"{path}." if path else ""
            return {
                str(k): self.walk(v, f"{prefix}{k}", key_lines.get(k, line))
                for k, v in value.items()
            }
        if isinstance(value, list):
            lines = getattr(value, "item_lines", [line] * len(value))
            return tuple(self.walk(v, f"{path}[{i}]", lines[i]) for i, v in enumerate(value))
        if isinstance(value, str) and "${" in value:
            return interpolate(value, self.environ)
        return value


def interpolate(text: str, environ: Mapping[str, str]) -> EnvText | Unset:
    """``text`` with its ``${NAME}`` replaced, or the names that are not set."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match[1], match[2]
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    out = ENV_REF.sub(substitute, text)
    return Unset(tuple(missing)) if missing else EnvText(out)
