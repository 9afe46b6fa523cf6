"""pyproject.toml's runtime dependencies and the runtime code's imports agree.

A runtime dependency no runtime module imports is installed on every host for
nothing (it belongs in an extra: `test`, or one named for the feature); a
third-party import no runtime dependency provides works only where the test
extra happens to bring it. Distribution names are mapped to import names by
the installed metadata (pyyaml provides `yaml`, dnspython `dns`), so the
environment must have the project installed (`pip install -e '.[test]'`).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_PACKAGES = ("conf", "policy", "scheduler", "admin", "gateway")


def runtime_dependencies() -> dict[str, Requirement]:
    """The dependencies that apply on this platform, by canonical distribution name."""
    requirements = (Requirement(text) for text in PYPROJECT["project"]["dependencies"])
    return {
        canonicalize_name(r.name): r
        for r in requirements
        if r.marker is None or r.marker.evaluate()
    }


def imported_names() -> dict[str, set[str]]:
    """Top-level names of absolute imports in runtime modules, each with the files importing it."""
    found: dict[str, set[str]] = {}
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    where = str(path.relative_to(ROOT))
                    found.setdefault(name.partition(".")[0], set()).add(where)
    return found


@functools.cache
def _import_to_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(import_name: str) -> set[str]:
    mapping = _import_to_distributions()
    return {canonicalize_name(d) for d in mapping.get(import_name, ())}


def third_party(names: dict[str, set[str]]) -> dict[str, set[str]]:
    own = set(RUNTIME_PACKAGES) | {"__future__"}
    return {
        name: where
        for name, where in names.items()
        if name not in own and name not in sys.stdlib_module_names
    }


def test_every_runtime_dependency_is_installed() -> None:
    installed = {canonicalize_name(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    missing = sorted(set(runtime_dependencies()) - installed)
    assert missing == [], f"not installed: {missing} (pip install -e '.[test]')"


def test_every_runtime_dependency_is_imported_by_runtime_code() -> None:
    provided = {dist for name in third_party(imported_names()) for dist in distributions_of(name)}
    unused = sorted(set(runtime_dependencies()) - provided)
    assert unused == [], (
        f"runtime dependencies no module of {RUNTIME_PACKAGES} imports: {unused}; "
        "use them, or move them to an optional extra (test, or one named for the feature)"
    )


def feature_extras() -> set[str]:
    """Distributions of the optional extras named for a feature (not test): a command
    that needs one imports it inside a try and says how to install it."""
    return {
        canonicalize_name(Requirement(text).name)
        for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items()
        if extra != "test"
        for text in requirements
    }


def test_every_third_party_import_of_runtime_code_is_a_runtime_dependency() -> None:
    declared = set(runtime_dependencies()) | feature_extras()
    undeclared = {
        name: sorted(where)
        for name, where in third_party(imported_names()).items()
        if not distributions_of(name) & declared
    }
    assert undeclared == {}, "imported by runtime code but not in [project].dependencies"


def test_the_checks_see_what_they_check() -> None:
    # A parse that found nothing would pass both checks above vacuously.
    names = third_party(imported_names())
    assert {"aiosmtpd", "yaml", "dns", "prometheus_client"} <= set(names)
    assert distributions_of("yaml") == {"pyyaml"}
    assert "aiosmtpd" in runtime_dependencies()
