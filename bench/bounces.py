"""Measure the bounce parser: parse rate and accuracy on a bounce corpus.

    python bench/bounces.py --corpus ../shared/bounce-corpus

Reads every message under ``<corpus>/maildir``, parses all of them three
times and reports the median rate (messages/s and reports/s) on one core,
then runs the corpus's own ``score.py`` per newline form and prints the
recipient, hard/soft, reason-class and status-class figures, and the false
hard rows (read as hard, expected not hard) apart.

``expected.jsonl`` lists the files of ``maildir/not`` (messages that must give
no result) as ordinary CRLF rows with no recipient, so ``score.py --newline
crlf`` counts them as three rows that can never be right.  The table scores
them as the negatives they are (a copy of the file with ``"negative": true``
on those rows) and prints the scorer's own CRLF line under it.

Last, every LF message is rewritten as CRLF, CR-only and CRLF converted twice
(``\r\r\n``) and the reports of each form are compared with the LF ones.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from policy.bounces import parse, parse_for_score  # noqa: E402

_NOT_BOUNCE_DIR = "maildir/not/"


def load_messages(corpus: str) -> list[bytes]:
    out = []
    base = os.path.join(corpus, "maildir")
    for dirpath, _, files in os.walk(base):
        for name in sorted(files):
            if name.endswith(".eml"):
                with open(os.path.join(dirpath, name), "rb") as fh:
                    out.append(fh.read())
    return out


def rate(messages: list[bytes], passes: int = 3) -> dict[str, float]:
    """Median messages/s and reports/s over ``passes`` full passes, by wall
    clock and by this process's CPU time (the one-core figure that does not
    depend on what else the machine is running)."""
    wall, cpu = [], []
    reports = 0
    for _ in range(passes):
        w0, c0 = time.perf_counter(), time.process_time()
        reports = sum(len(parse(m)) for m in messages)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    w, c = statistics.median(wall), statistics.median(cpu)
    return {
        "reports": reports,
        "wall_msgs": len(messages) / w,
        "wall_reports": reports / w,
        "cpu_msgs": len(messages) / c,
        "cpu_reports": reports / c,
    }


def expected_with_negatives(corpus: str, out_dir: str) -> str:
    """A copy of ``expected.jsonl`` whose ``maildir/not`` rows are negatives."""
    out = os.path.join(out_dir, "expected.jsonl")
    with (
        open(os.path.join(corpus, "expected.jsonl"), encoding="utf-8") as src,
        open(out, "w", encoding="utf-8") as dst,
    ):
        for line in src:
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("file", "").startswith(_NOT_BOUNCE_DIR) and not row.get("recipient"):
                row["negative"] = True
            dst.write(json.dumps(row) + "\n")
    return out


def score(corpus: str, newline: str, expected: str) -> dict[str, str]:
    """Run the corpus scorer for one newline form and collect its summary."""
    path = os.path.join(corpus, "score.py")
    spec = importlib.util.spec_from_file_location("bounce_corpus_score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    buf = io.StringIO()
    details = os.path.join(os.path.dirname(expected), f"details-{newline}.json")
    argv = [
        "--json",
        details,
        "--corpus",
        corpus,
        "--expected",
        expected,
        "--callable",
        "policy.bounces:parse_for_score",
        "--path",
        ROOT,
        "--newline",
        newline,
    ]
    with contextlib.redirect_stdout(buf):
        module.main(argv)
    figures = {}
    for line in buf.getvalue().splitlines():
        parts = line.split()
        if len(parts) == 2:
            figures[parts[0]] = parts[1]
    figures.update(false_hard(details))
    return figures


def false_hard(details_path: str) -> dict[str, str]:
    """Rows read as hard whose expected reading is not hard: the costly
    mistake (a suppressed address), counted apart from hard/soft accuracy."""
    with open(details_path, encoding="utf-8") as fh:
        rows = json.load(fh).get("details", [])
    wrong = sum(1 for r in rows if (r.get("got") or {}).get("hard") and not r["expected"]["hard"])
    pct = 100.0 * wrong / len(rows) if rows else 0.0
    return {"false_hard": f"{wrong} ({pct:.1f}%)"}


def negatives(corpus: str) -> tuple[int, int]:
    """Files under maildir/not and how many of them gave a result."""
    base = os.path.join(corpus, "maildir", "not")
    if not os.path.isdir(base):
        return 0, 0
    names = sorted(n for n in os.listdir(base) if n.endswith(".eml"))
    hits = 0
    for name in names:
        with open(os.path.join(base, name), "rb") as fh:
            hits += bool(parse(fh.read()))
    return len(names), hits


_FORMS = {"crlf": b"\r\n", "cr": b"\r", "crcrlf": b"\r\r\n"}
_KEYS = ("recipient", "status", "reason", "hard")


def form_agreement(corpus: str) -> tuple[int, dict[str, int]]:
    """LF messages, and per other newline form how many read differently."""
    base = os.path.join(corpus, "maildir", "bsd")
    names = sorted(n for n in os.listdir(base) if n.endswith(".eml"))
    differ = dict.fromkeys(_FORMS, 0)
    for name in names:
        with open(os.path.join(base, name), "rb") as fh:
            raw = fh.read().replace(b"\r\n", b"\n")

        def reading(data: bytes) -> list[tuple[object, ...]]:
            return [tuple(r[k] for k in _KEYS) for r in parse_for_score(data)]

        lf = reading(raw)
        for form, nl in _FORMS.items():
            differ[form] += reading(raw.replace(b"\n", nl)) != lf
    return len(names), differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="bounce corpus directory")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args(argv)

    messages = load_messages(args.corpus)
    r = rate(messages, args.passes)
    print(f"parse rate: {len(messages)} messages, {r['reports']:.0f} reports per pass")
    print(f"  {'median of ' + str(args.passes):16} {'messages/s':>12} {'reports/s':>12}")
    print(f"  {'cpu time':16} {r['cpu_msgs']:>12,.0f} {r['cpu_reports']:>12,.0f}")
    print(f"  {'wall clock':16} {r['wall_msgs']:>12,.0f} {r['wall_reports']:>12,.0f}")
    print()
    cols = (
        "recipient_detection_%",
        "hard_soft_%",
        "reason_class_%",
        "reason_exact_%",
        "status_class_%",
        # Reports matching no expected row: a wrong recipient, or one too many.
        "extra_predictions",
        "false_hard",
    )

    def row(label: str, f: dict[str, str]) -> None:
        print(
            f"  {label:8} {f.get('expected_rows', '?'):>5} "
            + " ".join(f"{f.get(c, '?'):>20}" for c in cols)
        )

    print(f"  {'newline':8} {'rows':>5} " + " ".join(f"{c.removesuffix('_%'):>20}" for c in cols))
    with tempfile.TemporaryDirectory() as tmp:
        expected = expected_with_negatives(args.corpus, tmp)
        for newline in ("lf", "crlf", "cr"):
            row(newline, score(args.corpus, newline, expected))
    raw_expected = os.path.join(args.corpus, "expected.jsonl")
    print("  as score.py counts crlf, with the not-bounce files as rows:")
    row("crlf", score(args.corpus, "crlf", raw_expected))
    total, hits = negatives(args.corpus)
    print(f"\n  not-bounce files: {total}, with a result: {hits}")
    count, differ = form_agreement(args.corpus)
    print(
        f"  LF messages read differently once rewritten ({count} messages): "
        + ", ".join(f"{form} {n}" for form, n in differ.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
