"""What click/open tracking costs per message.

Rewrites a generated ~20 KB newsletter (multipart/alternative, 60 links in the
HTML part) 500 times per row and prints the median and 95th percentile in
milliseconds: once with a free token function, to measure the rewrite alone,
and once with policy.tokens.issue, as the gateway runs it.

    .venv/bin/python bench/rewrite_cost.py [--iterations N]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import statistics
import time
from collections.abc import Callable

from gateway.tracking import TrackingPlan, rewrite
from policy.tokens import TokenKeys, issue

LINKS = 60
TARGET_HTML_BYTES = 20_000


def newsletter_html(links: int = LINKS, size: int = TARGET_HTML_BYTES) -> str:
    rows = []
    for i in range(links):
        url = (
            f"https://www.shop.example.com/products/item-{i:03d}"
            f"?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=spring&amp;utm_content=p{i}"
        )
        rows.append(
            f'<tr><td style="padding:8px 24px;font:14px/20px Arial,sans-serif;color:#333333;">'
            f'<a href="{url}" style="color:#d6336c;">Product {i}</a> from 19,99&nbsp;€</td></tr>\n'
        )
    head = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Spring</title>\n'
        "<!--[if mso]><style>table{border-collapse:collapse;}</style><![endif]-->\n"
        '</head>\n<body style="margin:0;padding:0;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\n'
    )
    tail = "</table>\n</body>\n</html>\n"
    body = "".join(rows)
    filler = '<tr><td style="padding:8px 24px;">Picks for the garden and the balcony.</td></tr>\n'
    while len((head + body + tail).encode()) < size:
        body += filler
    return head + body + tail


def message(encoding: str) -> bytes:
    html = newsletter_html().encode()
    if encoding == "quoted-printable":
        payload = binascii.b2a_qp(html.replace(b"\n", b"\r\n"), istext=True)
    elif encoding == "base64":
        payload = base64.encodebytes(html).replace(b"\n", b"\r\n")
    else:
        payload = html.replace(b"\n", b"\r\n")
    headers = (
        "From: Shop <news@shop.example.com>\r\nTo: jane@example.com\r\n"
        "Subject: Spring\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Spring picks: https://www.shop.example.com/spring\r\n"
        "--b1\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return headers.encode() + payload + b"\r\n--b1--\r\n"


def measure(msg: bytes, make_token: Callable[[str, int, str | None], str], n: int) -> list[float]:
    plan = TrackingPlan(base_url="https://t.shop.example.com", make_token=make_token)
    rewrite(msg, plan)  # warm the regex cache
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        rewrite(msg, plan)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    n = parser.parse_args().iterations
    keys = TokenKeys(["bench-secret-0123456789abcdef"])

    def real_token(kind: str, index: int, url: str | None) -> str:
        return issue(keys, kind, "shop", "01HV3K9Q2M4N5P6R", "jane.doe@example.com", index, url)

    def free_token(kind: str, index: int, url: str | None) -> str:
        return "x" * 16

    print(f"{LINKS} links, {n} iterations per row, milliseconds per message")
    print(f"{'html encoding':<18}{'message KB':>11}{'tokens':>9}{'median':>9}{'p95':>9}")
    for encoding in ("quoted-printable", "base64", "8bit"):
        msg = message(encoding)
        for label, fn in (("free", free_token), ("issue()", real_token)):
            samples = sorted(measure(msg, fn, n))
            p95 = samples[int(len(samples) * 0.95) - 1]
            print(
                f"{encoding:<18}{len(msg) / 1024:>11.1f}{label:>9}"
                f"{statistics.median(samples):>9.3f}{p95:>9.3f}"
            )


if __name__ == "__main__":
    main()
