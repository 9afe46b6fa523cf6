"""The return date an out-of-office gives, in en, fr, de, es, it and nl. Pure.

Dates are looked for after a return word ("back", "de retour", "bis",
"hasta", "fino al", "tot"...) within a few words, written as numbers
(``12/01``, ``12.01.2027``, ``12-01-2027``: day first, as in every one of
these languages but US English; a first number above 12 is read as the day
either way) or with a month name (``12 January``, ``January 12``, ``12.
Januar``, ``12 de enero``). A date without a year is the next such day on or
after the reply. A date in the past or more than a year ahead is no date:
the configured delay applies instead.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    (
        "january jan janvier janv januar jän enero ene gennaio genn gen januari",
        "february feb février fév fevrier februar febrero febbraio febr februari",
        "march mar mars märz maerz marzo maart mrt",
        "april apr avril abril aprile",
        "may mai mayo maggio mei mag",
        "june jun juin juni junio giugno",
        "july jul juillet juil juli julio luglio lug",
        "august aug août aout agosto ago augustus",
        "september sep sept septembre septiembre settembre set",
        "october oct octobre oktober okt octubre ottobre ott",
        "november nov novembre noviembre",
        "december dec décembre dez dezember diciembre dic dicembre",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _i
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_RETURN = (
    r"back|return(?:ing)?|returns|until|till|through|"
    r"retour|reviens|reviendrai|jusqu['\u2019]?\s*(?:au|à)|à\s+partir\s+du|dès\s+le|"
    r"bis(?:\s+(?:zum|einschließlich))?|zurück|wieder|ab\s+dem|ab|"
    r"hasta(?:\s+el)?|vuelta|volveré|regreso|regresaré|a\s+partir\s+del|"
    r"fino\s+al|rientro|tornerò|ritorno|dal|"
    r"tot(?:\s+en\s+met)?|terug|vanaf"
)
_NUMERIC = r"(?P<d>\d{1,2})[./-](?P<m>\d{1,2})(?:[./-](?P<y>\d{4}|\d{2}))?\b"
_DAY_MONTH = (
    rf"(?P<d2>\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?:de\s+)?(?P<m2>{_MONTH})\.?"
    rf"(?:\s+(?:de\s+)?(?P<y2>\d{{4}}))?"
)
_MONTH_DAY = rf"(?P<m3>{_MONTH})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y3>\d{{4}}))?"
_DATE = re.compile(
    rf"\b(?:{_RETURN})\b[^.\n\d]{{0,40}}?\b(?:{_NUMERIC}|{_DAY_MONTH}|{_MONTH_DAY})",
    re.IGNORECASE,
)


def return_date(text: str, received: float) -> date | None:
    """The first plausible return date after a return word, or None."""
    today = datetime.fromtimestamp(received, UTC).date()
    for found in _DATE.finditer(text):
        day = _read(found, today)
        if day is not None and today <= day <= today + timedelta(days=366):
            return day
    return None


def _read(found: re.Match[str], today: date) -> date | None:
    g = found.groupdict()
    if g["d"]:
        d, m = int(g["d"]), int(g["m"])
        if m > 12 >= d:  # 01/25: the US order, the only one that fits
            d, m = m, d
        year = g["y"]
    elif g["d2"]:
        d, m, year = int(g["d2"]), _MONTHS[g["m2"].lower()], g["y2"]
    else:
        d, m, year = int(g["d3"]), _MONTHS[g["m3"].lower()], g["y3"]
    try:
        if year:
            y = int(year)
            return date(y + 2000 if y < 100 else y, m, d)
        guess = date(today.year, m, d)
        return guess if guess >= today else date(today.year + 1, m, d)
    except ValueError:  # 31/02, 13/13: not a date
        return None


def resume_at(day: date) -> float:
    """When the next step may go: the start (UTC) of the day after the return date."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86400.0
