"""Read one YAML file into frozen Settings, reporting every error at once.

Each error names the key path and the line it came from, e.g.
``tenants[1].dkim[0].key_file: file not found (line 42)``. Unknown keys are
errors (a typo must not silently fall back to a default). ``${NAME}`` and
``${NAME:-default}`` in any string take their value from the environment, so
secrets stay out of the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from conf.schema import Settings

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
EMBEDDED = Path(__file__).with_name("embedded.yaml")


class ConfigError(Exception):
    """Every problem found in one configuration, each as "path: text (line N)"."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} error(s)\n  " + "\n  ".join(problems))


class _Map(dict):
    line = 0
    key_lines: dict[str, int]


class _Seq(list):
    line = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings and lists remember the lines they came from."""

    duplicate_keys: list[tuple[str, int]]


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
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
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)
# Dates stay strings: the schema decides what a value means.
_LineLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Builder:
    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.errors: list[tuple[str, int, str]] = []
        self.lines: dict[str, int] = {}

    def fail(self, path: str, line: int, text: str) -> None:
        self.errors.append((path, line, text))

    def build(self, hint: Any, value: Any, path: str, line: int) -> Any:
        self.lines.setdefault(path, line)
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(hint) if a is not type(None)]
            if value is None:
                return None
            return self.build(options[0], value, path, line)
        if origin is Literal:
            allowed = typing.get_args(hint)
            if value not in allowed:
                self.fail(path, line, f"must be one of {', '.join(map(str, allowed))}")
            return value
        if origin is tuple:
            if not isinstance(value, list):
                self.fail(path, line, "must be a list")
                return ()
            item = typing.get_args(hint)[0]
            lines = getattr(value, "item_lines", [line] * len(value))
            return tuple(self.build(item, v, f"{path}[{i}]", lines[i]) for i, v in enumerate(value))
        if origin is dict:
            if not isinstance(value, dict):
                self.fail(path, line, "must be a mapping")
                return {}
            item = typing.get_args(hint)[1]
            key_lines = getattr(value, "key_lines", {})
            return {
                str(k): self.build(item, v, f"{path}.{k}", key_lines.get(k, line))
                for k, v in value.items()
            }
        if dataclasses.is_dataclass(hint):
            return self.build_dataclass(hint, value, path, line)
        return self.build_scalar(hint, value, path, line)

    def build_scalar(self, hint: Any, value: Any, path: str, line: int) -> Any:
        if isinstance(value, str) and "${" in value:
            value = self.interpolate(value, path, line)
            if hint is not str and value:
                # A number or flag from the environment arrives as text.
                value = yaml.safe_load(value)
        if hint is bool:
            ok = isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif hint is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif hint is str:
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, hint)
        if not ok:
            self.fail(path, line, f"must be {_type_name(hint)}, not {_type_name(type(value))}")
        return value

    def interpolate(self, text: str, path: str, line: int) -> str:
        def substitute(match: re.Match[str]) -> str:
            name, default = match[1], match[2]
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self.fail(path, line, f"environment variable {name} is not set")
            return ""

        return ENV_REF.sub(substitute, text)

    def build_dataclass(self, cls: Any, value: Any, path: str, line: int) -> Any:
        prefix = f"{path}." if path else ""
        if not isinstance(value, dict):
            self.fail(path or "(top)", line, "must be a mapping")
            return None
        key_lines = getattr(value, "key_lines", {})
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in value:
            if key not in fields:
                known = ", ".join(sorted(fields))
                self.fail(
                    f"{prefix}{key}", key_lines.get(key, line), f"unknown key (known: {known})"
                )
        kwargs = {}
        for name, f in fields.items():
            sub = f"{prefix}{name}"
            if name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    self.fail(sub, line, "is required")
                continue
            built = self.build(hints[name], value[name], sub, key_lines.get(name, line))
            rule = f.metadata.get("check")
            if rule is not None and built is not None and not self.has_error_under(sub):
                problem = rule(built)
                if problem:
                    self.fail(sub, key_lines.get(name, line), problem)
            kwargs[name] = built
        if self.has_error_under(path):
            return None
        try:
            obj = cls(**kwargs)
        except TypeError as exc:
            self.fail(path or "(top)", line, str(exc))
            return None
        for rel, text in getattr(obj, "problems", lambda: [])():
            full = f"{prefix}{rel}"
            self.fail(full, self.line_of(full, line), text)
        return obj

    def has_error_under(self, path: str) -> bool:
        if not path:
            return bool(self.errors)
        return any(p == path or p.startswith((path + ".", path + "[")) for p, _, _ in self.errors)

    def line_of(self, path: str, fallback: int) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
        return fallback


def _type_name(t: Any) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        _Seq: "a list",
        _Map: "a mapping",
        type(None): "empty",
    }.get(t, getattr(t, "__name__", str(t)))


def parse(
    text: str, source: str = "<string>", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate YAML text into Settings, or raise ConfigError listing every problem."""
    loader = _LineLoader(text)
    loader.duplicate_keys = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(
            source, [f"not valid YAML: {getattr(exc, 'problem', exc)}{where}"]
        ) from None
    finally:
        loader.dispose()
    builder = _Builder(os.environ if environ is None else environ)
    for key, line in loader.duplicate_keys:
        builder.fail(key, line, "duplicate key")
    settings = builder.build_dataclass(Settings, {} if data is None else data, "", 1)
    if builder.errors:
        raise ConfigError(source, [f"{p}: {t} (line {n})" for p, n, t in builder.errors])
    return settings


def load(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load the file at ``path``, or ``$SLUICE_CONFIG``, or the embedded default."""
    env = os.environ if environ is None else environ
    chosen = path or env.get("SLUICE_CONFIG") or EMBEDDED
    try:
        text = Path(chosen).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(chosen), [f"cannot read the file: {exc.strerror}"]) from None
    return parse(text, str(chosen), env)
