"""Pydantic's validation errors in the words ``sluice check-config`` uses.

Each error becomes ``(key path, text)``: the path as the file spells it
(``tenants[1].dkim[0].key_file``), the text short and specific ("must be an
integer, not a string", "unknown key (known: ...)"). A section's
``problems()`` arrive as one error and leave as one pair per problem.
"""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from conf.schema.base import PROBLEMS, Unset, bare_type

_TYPE_TEXT = {
    "bool_type": "true or false",
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
}
_VALUE_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    tuple: "a list",
    list: "a list",
    dict: "a mapping",
    type(None): "empty",
}


def key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
    return out


def describe(error: ErrorDetails, root: type[BaseModel]) -> list[tuple[str, str]]:
    """The (key path, text) pairs of one pydantic error met validating ``root``."""
    loc = tuple(error["loc"])
    path = key_path(loc)
    if isinstance(error["input"], Unset):
        names = error["input"].names
        return [(path or "(top)", f"environment variable {n} is not set") for n in names]
    if error["type"] == PROBLEMS:
        found: list[tuple[str, str]] = error["ctx"]["found"]
        return [(f"{path}.{rel}" if path else rel, text) for rel, text in found]
    return [(path or "(top)", _text(error, _hint_at(root, loc[:-1]), _hint_at(root, loc)))]


def _text(error: ErrorDetails, parent: Any, hint: Any) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in _TYPE_TEXT:
        return f"must be {_TYPE_TEXT[kind]}, not {_value_name(error['input'])}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden" and _is_model(parent):
        return f"unknown key (known: {', '.join(sorted(parent.model_fields))})"
    if kind == "literal_error" and typing.get_origin(hint) is typing.Literal:
        return f"must be one of {', '.join(map(str, typing.get_args(hint)))}"
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type"):
        return "must be a mapping"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']:g}"
    if kind == "value_error":
        return str(ctx["error"])
    return error["msg"]


def _value_name(value: Any) -> str:
    return _VALUE_NAMES.get(type(value), type(value).__name__)


def _is_model(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, BaseModel)


def _hint_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> Any:
    """The type the schema declares at ``loc``, without Annotated and ``| None``."""
    hint: Any = root
    for step in loc:
        if _is_model(hint):
            field = hint.model_fields.get(step)
            if field is None:
                return None
            hint = bare_type(field.annotation)
        elif typing.get_origin(hint) is tuple:
            hint = bare_type(typing.get_args(hint)[0])
        elif typing.get_origin(hint) is dict:
            hint = bare_type(typing.get_args(hint)[1])
        else:
            return None
    return hint


_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def schema_rank(root: type[BaseModel], data: Any, path: str) -> tuple[int, ...]:
    """Where ``path`` comes in the schema: errors sorted by it read in the schema's order.

    Within a section its unknown keys come first, then its fields as declared;
    within a list, items in order; within a mapping, keys as the file has them.
    """
    rank: list[int] = []
    hint: Any = root
    for name, index in _STEP.findall(path):
        origin = typing.get_origin(hint)
        if _is_model(hint):
            fields = list(hint.model_fields)
            if name not in fields:
                return (*rank, -1)
            rank.append(fields.index(name))
            hint = bare_type(hint.model_fields[name].annotation)
        elif origin is tuple and index:
            rank.append(int(index))
            hint = bare_type(typing.get_args(hint)[0])
        elif origin is dict and isinstance(data, dict) and name in data:
            rank.append(list(data).index(name))
            hint = bare_type(typing.get_args(hint)[1])
        else:
            break
        data = _child(data, name, index)
    return tuple(rank)


def _child(data: Any, name: str, index: str) -> Any:
    if index and isinstance(data, tuple) and int(index) < len(data):
        return data[int(index)]
    if not index and isinstance(data, dict):
        return data.get(name)
    return None
