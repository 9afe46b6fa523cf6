"""Status codes, SMTP reply codes and the refused SMTP command in bounce text.

The enhanced status code (RFC 3463) and reply code (RFC 5321) tables that
``reasons`` maps to reasons, and the readers that find those codes
and the command a remote server refused (``RCPT``, ``MAIL``, ``DATA`` ...).
"""

from __future__ import annotations

import functools
import re

# Enhanced status codes precise enough to decide the reason on their own.
SPECIFIC_STATUS: dict[str, str] = {
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.6": "hasmoved",
    "1.10": "notaccept",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.4": "mesgtoobig",
    "4.7": "expired",
    "5.3": "exceedlimit",
    "7.13": "suspend",
    "7.23": "authfailure",
    "7.24": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "notaccept",
    "7.509": "authfailure",
    "7.510": "norelaying",
    # Microsoft's bulk-sender requirement: a block of the sending domain.
    "7.515": "blocked",
    "7.650": "badreputation",
    "7.651": "badreputation",
}
# Codes that hint at a reason but often carry a more precise explanation.
GENERIC_STATUS: dict[str, str] = {
    "1.0": "userunknown",
    "1.4": "userunknown",
    "1.5": "userunknown",
    "1.7": "rejected",
    "1.8": "rejected",
    "2.0": "filtered",
    "2.1": "suspend",
    "2.4": "systemerror",
    "3.0": "systemerror",
    "3.3": "systemerror",
    "3.5": "systemerror",
    "4.0": "networkerror",
    "4.1": "networkerror",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "toomanyconn",
    "4.6": "networkerror",
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.4": "syntaxerror",
    "5.5": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "7.0": "securityerror",
    "7.1": "securityerror",
    "7.2": "securityerror",
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "securityerror",
    "7.9": "policyviolation",
    "7.10": "securityerror",
    "7.11": "securityerror",
    "7.12": "securityerror",
    "7.14": "securityerror",
    "7.17": "securityerror",
    "7.18": "securityerror",
    "7.19": "securityerror",
    "7.20": "authfailure",
    "7.21": "authfailure",
    "7.22": "authfailure",
}

REPLY_CODE: dict[str, str] = {
    "421": "systemerror",
    "450": "systemerror",
    "451": "systemerror",
    "452": "systemfull",
    "521": "notaccept",
    "523": "mesgtoobig",
    "530": "securityerror",
    "550": "rejected",
    "551": "hasmoved",
    "552": "mailboxfull",
    "553": "rejected",
    "554": "rejected",
    "556": "notaccept",
}

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
REPLY_RE = re.compile(r"(?<![\d.#-])([245][0-5]\d)(?:[ -]|$)", re.MULTILINE)


_STATUS_AFTER_REPLY_RE = re.compile(
    r"(?<!\d)[245]\d\d[ -]['\"]?([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)"
)


def find_status(text: str) -> str:
    """The enhanced status code of ``text`` (``""`` if none): the one that
    follows an SMTP reply code if there is one, else the first plausible."""
    for rx in (_STATUS_AFTER_REPLY_RE, STATUS_RE):
        for m in rx.finditer(text):
            a, b, c = m.groups()
            if int(b) <= 7:
                return f"{a}.{b}.{c}"
    return ""


# "Response code 421", "ERROR_CODE :550": a reply code named as such.
_NAMED_REPLY_RE = re.compile(
    r"(?:reply|response|error|smtp)[ _-]?code[ \t]*[:=]?[ \t]*([245][0-5]\d)(?!\d)",
    re.IGNORECASE,
)


def find_reply_code(text: str) -> str:
    m = REPLY_RE.search(text) or _NAMED_REPLY_RE.search(text)
    return m.group(1) if m else ""


_COMMAND_RE = re.compile(
    r"(?:in reply to|after|did not like our|smtp command|command|most progress was)[\s:-]*"
    r"(?:the )?(rcpt to|mail from|end of data|data|helo|ehlo|starttls)\b"
    r"|\[(rcpt_to|mail_from|data)\]"
    # "SMTP:RCPT host 192.0.2.8: 553 ...": the stage named before the host.
    r"|\bsmtp:(rcpt|mail|data)\b"
    # qmail-remote names the stage in words.
    r"|does not like (recipient|sender)\b|(failed after i sent the message)"
    # Refused before any command: at the connection or its greeting.
    r"|(after initial connection|initial greeting|refused to talk to me|on connect(?:ion)?\b)",
    re.IGNORECASE,
)
_TRANSCRIPT_RE = re.compile(
    r"^[ \t]*>>> ?(rcpt to|mail from|data|helo|ehlo|starttls)\b|^[ \t]*<<< ?[45]\d\d",
    re.IGNORECASE | re.MULTILINE,
)
_COMMANDS = {
    "rcpt to": "RCPT",
    "rcpt_to": "RCPT",
    "rcpt": "RCPT",
    "mail": "MAIL",
    "recipient": "RCPT",
    "sender": "MAIL",
    "failed after i sent the message": "DATA",
    "mail_from": "MAIL",
    "mail from": "MAIL",
    "end of data": "DATA",
    "data": "DATA",
    "helo": "HELO",
    "ehlo": "HELO",
    "starttls": "STARTTLS",
    "after initial connection": "CONNECT",
    "initial greeting": "CONNECT",
    "refused to talk to me": "CONNECT",
    "on connect": "CONNECT",
    "on connection": "CONNECT",
}


@functools.lru_cache(maxsize=32)
def find_command(text: str) -> str:
    """The SMTP command the remote server refused, if the text says."""
    m = _COMMAND_RE.search(text)
    if m:
        return _COMMANDS[next(g for g in m.groups() if g).lower()]
    # In a session transcript the refused command is the last one sent
    # before the first error reply.
    last = ""
    for m in _TRANSCRIPT_RE.finditer(text):
        if m.group(1) is None:
            return last
        last = _COMMANDS[m.group(1).lower()]
    return ""
