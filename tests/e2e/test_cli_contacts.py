"""`sluice contacts import|export` as the process, against a real store."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli_policy import sluice  # noqa: F401  (the fixture)

HEADER = "email,first_name,language,country,tags"


def test_bad_row_imports_nothing_and_names_row_and_column(sluice):  # noqa: F811
    bad = f"{HEADER}\na@example.net,Ann,en,FR,vip\nb@example.net,Bob,en,FRANCE,\n"
    result = sluice("contacts", "import", "--tenant", "acme", stdin=bad)
    assert result.returncode == 1
    assert "row 3, column country" in result.stderr and "nothing imported" in result.stderr
    assert sluice("contacts", "export", "--tenant", "acme").stdout.splitlines()[1:] == []
    unknown = sluice("contacts", "import", "--tenant", "nobody", stdin=f"{HEADER}\n")
    assert unknown.returncode == 1 and "no tenant 'nobody'" in unknown.stderr


def test_large_import_shows_progress_and_exports_back(sluice, tmp_path: Path):  # noqa: F811
    rows = "".join(f"u{i:05d}@example.net,U{i},en,FR,t{i % 3}\n" for i in range(6000))
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{rows}")
    result = sluice("contacts", "import", "--tenant", "acme", str(source))
    assert result.returncode == 0, result.stderr
    assert "/6000 rows" in result.stderr  # the progress bar, past a few thousand rows
    assert "imported 6000: 6000 created, 0 updated" in result.stderr
    out = tmp_path / "out.csv"
    assert sluice("contacts", "export", "--tenant", "acme", str(out)).returncode == 0
    exported = out.read_text().splitlines()
    assert len(exported) == 6001 and exported[1].startswith("u00000@example.net,U0,,en,FR,")
    again = sluice("contacts", "import", "--tenant", "acme", str(out))
    assert "imported 6000: 0 created, 6000 updated" in again.stderr
