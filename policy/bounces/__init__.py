"""Bounces, complaints and auto-replies: raw message bytes in, one report per recipient out.

``parse`` (``policy.bounces.parser``) is the entry; the other modules are its
parts: MIME reading (``mime``), RFC 3464 fields (``dsn``), complaints and
auto-replies (``complaints``), Amazon SES (``ses``), plain bounce text
(``text``), codes and reasons (``codes``, ``patterns``, ``reasons``) and the
report record (``report``).
"""

from policy.bounces.parser import parse, parse_for_score
from policy.bounces.report import BounceReport

__all__ = ["BounceReport", "parse", "parse_for_score"]
