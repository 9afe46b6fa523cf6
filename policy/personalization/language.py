"""Whether a line is plausibly in a language: common short words, counted.

A stopword count is crude but enough to catch the model answering in
English to a French contact. The rule: among the languages known here, the
contact's own must score at least as high as any other, and a line of four
words or more must contain at least one of its words. A language not known
here is not checked.
"""

from __future__ import annotations

import re

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to in is it you that for your with on this are was have be at as "
        "from about how what really just my we our i".split()
    ),
    "fr": frozenset(
        "le la les de des du et est un une vous votre vos que qui pour dans sur avec pas "
        "ce cette au aux je nous très mais par sont été l d j qu c".split()
    ),
    "de": frozenset(
        "der die das und ist ich sie ihr ihre ihren nicht mit für auf ein eine einen den "
        "dem zu von sehr auch wir es im wie habe hat".split()
    ),
    "es": frozenset(
        "el la los las de del y que en un una es su sus para con por muy lo se me mucho "
        "usted tu al como he sobre".split()
    ),
    "it": frozenset(
        "il lo la gli le di del della e che è un una per con non sono suo sua tuo tua "
        "molto ho nel nella al alla come mi".split()
    ),
    "nl": frozenset(
        "de het een en van ik je jij u uw is dat die niet met voor op zijn heb heeft ook "
        "naar over wat erg mijn jouw".split()
    ),
    "pt": frozenset(
        "o os a as de do da dos das e que em um uma é seu sua para com não muito no na "
        "por mais como eu você ao".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+")


def plausible(text: str, language: str) -> bool:
    """True unless ``text`` reads as another of the known languages than ``language``."""
    own = STOPWORDS.get(language)
    if own is None:
        return True
    words = _WORD.findall(text.lower())
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    if len(words) >= 4 and scores[language] == 0:
        return False
    return scores[language] >= max(scores.values())
