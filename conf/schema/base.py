"""What every settings section shares: frozen, strict, closed, cross-checked.

A section is a pydantic model that refuses unknown keys (a typo must not fall
back to a default silently), takes values only of its fields' own types (no
"5" for 5: a quoted number is more often a mistake than a wish), and cannot
change after it is built: a reload builds a new tree.

Cross-field rules live in ``problems()``, which returns ``(key path relative
to the section, text)`` pairs; they run only once every field of the section
is valid, and all of them are raised as one error that the loader spreads
back into one line per problem.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

PROBLEMS = "problems"  # the pydantic error type that carries problems()


class EnvText(str):
    """Text that came (partly) from ``${NAME}``.

    The environment holds only text, so a number or a flag from it is read as
    YAML once the field it lands in is known; a literal "5" in the file stays
    a string and is refused for a number.
    """


@dataclass(frozen=True)
class Unset:
    """A value that names environment variables that are not set.

    No field accepts it, so its field fails (and the section's cross-checks,
    which would only repeat the failure, do not run); the loader words the
    error after the names.
    """

    names: tuple[str, ...]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field errors, as (key path relative to this section, text)."""
        return []

    @model_validator(mode="before")
    @classmethod
    def _read_environment_text(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: _typed(fields[key].annotation, value) if key in fields else value
            for key, value in data.items()
        }

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        found = self.problems()
        if found:
            summary = "; ".join(f"{path}: {text}" for path, text in found)
            raise PydanticCustomError(PROBLEMS, "{summary}", {"summary": summary, "found": found})
        return self


def _typed(hint: Any, value: Any) -> Any:
    """``value`` with its EnvText read as the type ``hint`` asks for."""
    hint = bare_type(hint)
    if isinstance(value, EnvText):
        if not value or hint is str or typing.get_origin(hint) is Literal:
            return str(value)
        return yaml.safe_load(value)
    origin = typing.get_origin(hint)
    if isinstance(value, tuple) and origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_typed(item, v) for v in value)
    if isinstance(value, dict) and origin is dict:
        item = typing.get_args(hint)[1]
        return {k: _typed(item, v) for k, v in value.items()}
    return value


def bare_type(hint: Any) -> Any:
    """``hint`` without Annotated metadata and without its ``| None``."""
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        else:
            return hint
