"""Read one YAML file into frozen Settings, reporting every error at once.

Each error names the key path and the line it came from, e.g.
``tenants[1].dkim[0].key_file: file not found (line 42)``. Unknown keys are
errors (a typo must not silently fall back to a default). ``${NAME}`` and
``${NAME:-default}`` in any string take their value from the environment, so
secrets stay out of the file. The schema (conf.schema) decides what is valid;
this module finds the lines and words the answer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from conf import yamltree
from conf.messages import describe, schema_rank
from conf.schema import Settings
from conf.yamltree import DUPLICATE

EMBEDDED = Path(__file__).with_name("embedded.yaml")


class ConfigError(Exception):
    """Every problem found in one configuration, each as "path: text (line N)"."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} error(s)\n  " + "\n  ".join(problems))


def parse(
    text: str, source: str = "<string>", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate YAML text into Settings, or raise ConfigError listing every problem."""
    try:
        tree = yamltree.read(text, os.environ if environ is None else environ)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(
            source, [f"not valid YAML: {getattr(exc, 'problem', exc)}{where}"]
        ) from None
    problems = tree.problems
    try:
        settings = Settings.model_validate(tree.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problems += [(p, tree.line_of(p), t) for p, t in describe(error, Settings)]
    if problems:
        # Keys given twice first, then section by section as the schema declares
        # them, so the list reads in a stable order whatever pydantic met first.
        problems.sort(key=lambda p: (p[2] != DUPLICATE, schema_rank(Settings, tree.data, p[0])))
        raise ConfigError(source, [f"{p}: {t} (line {n})" for p, n, t in problems])
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
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        # Every default with no tenant would start a relay that refuses everyone.
        raise ConfigError(
            str(chosen), ["the file is empty: start from conf/sluice.example.yaml"]
        ) from None
    return parse(text, str(chosen), env)
