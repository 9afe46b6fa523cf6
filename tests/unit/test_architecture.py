"""ARCHITECTURE.md stays a true map: every path it names exists.

Paths are the backticked words that look like a file or folder of the
repository (they contain a ``/`` or end in ``.py``/``.md``/``.toml``). The
last section, the parts still to come, is not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUTURE = "## Where the coming parts go"
PATH = re.compile(r"`([A-Za-z_][\w./-]*(?:/|\.py|\.md|\.toml))`")


def named_paths(text: str) -> list[str]:
    checked = text.split(FUTURE, 1)[0]
    return sorted(set(PATH.findall(checked)))


def test_every_named_path_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    assert FUTURE in text, "the section of the coming parts is the only unchecked one"
    paths = named_paths(text)
    assert len(paths) > 20, paths  # the map names the modules, not just the folders
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_a_missing_path_is_caught() -> None:
    text = "see `gateway/nowhere.py` and `policy/`\n" + FUTURE + "\n`scheduler/later.py`"
    assert named_paths(text) == ["gateway/nowhere.py", "policy/"]
    assert not (ROOT / "gateway/nowhere.py").exists()
