"""What the replier wrote: the quoted original and the signature cut away. Pure.

The classifier (rules and model) must read only the new text: the quoted
original holds the scenario's own words ("unsubscribe" in its footer, an
offer that looks like interest), and a signature adds nothing but names.
The cut is at the first line that opens a quote in any of the languages
Sluice's replies come in, or a signature marker; lines quoted with ``>``
are dropped wherever they are.
"""

from __future__ import annotations

import re

# A line that starts the quoted original: the client's attribution line, a
# forwarded or original-message separator, or an Outlook header block.
_QUOTE_START = re.compile(
    r"""^\s*(?:
        on\b.{0,200}\bwrote:?                              # en
      | le\b.{0,200}\ba\s+écrit\s*:?                       # fr
      | am\b.{0,200}\bschrieb\b.{0,80}:?                   # de
      | el\b.{0,200}\bescribió\s*:?                        # es
      | il\b.{0,200}\bha\s+scritto\s*:?                    # it
      | op\b.{0,200}\bschreef\b.{0,80}:?                   # nl
      | -{2,}\s*(?:original\s+message|message\s+d'origine|ursprüngliche\s+nachricht
          |mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht
          |forwarded\s+message|message\s+transféré)\s*-{2,}
      | _{10,}
      | (?:from|de|von|da|van)\s*:\s.+                     # Outlook's header block
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_SIGNATURE = re.compile(
    r"""^\s*(?:--\s?
      | sent\s+from\s+my\s.+ | get\s+outlook\s+for\s.+
      | envoyé\s+(?:de|depuis)\s+mon\s.+
      | von\s+meinem\s.+\s+gesendet
      | enviado\s+desde\s+mi\s.+
      | inviato\s+da(?:l\s+mio)?\s.+
      | verzonden\s+(?:vanaf|met)\s.+ | verstuurd\s+vanaf\s.+
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def strip(text: str) -> str:
    """The reply's own text: up to the first quote or signature, ``>`` lines dropped."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _QUOTE_START.match(line) or _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()
