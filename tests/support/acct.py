"""PowerMTA accounting lines written for Sluice's tests."""

from __future__ import annotations

import csv
import io

HEADER = (
    "type,timeLogged,orig,rcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,"
    "dlvSourceIp,vmta,jobId,header_Message-Id,feedbackType"
)
COLUMNS = HEADER.split(",")


def line(kind: str, rcpt: str, orig: str = "news@acme-mail.com", **fields: str) -> str:
    """One CSV record (with its newline) of type ``kind``; fields by column name."""
    defaults = {
        "b": {
            "dsnAction": "failed",
            "dsnStatus": "5.1.1 (bad destination mailbox address)",
            "dsnDiag": "smtp;550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
            "bounceCat": "bad-mailbox",
        },
        "t": {
            "dsnAction": "delayed",
            "dsnStatus": "4.2.2",
            "dsnDiag": "smtp;452 4.2.2 mailbox full",
            "bounceCat": "quota-issues",
        },
        "f": {"feedbackType": "abuse"},
    }.get("b" if kind == "rb" else kind, {})
    values = {
        "type": kind,
        "timeLogged": "2026-11-20 10:00:00+0000",
        "orig": orig,
        "rcpt": rcpt,
        "dlvSourceIp": "192.0.2.10",
        "vmta": "acme-1",
        "header_Message-Id": "<m1@acme-mail.com>",
        **defaults,
        **fields,
    }
    values = {k: v.format(rcpt=rcpt) for k, v in values.items()}
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values.get(c, "") for c in COLUMNS])
    return out.getvalue()
