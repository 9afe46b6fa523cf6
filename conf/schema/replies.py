"""The ``replies:`` section: how replies to scenario mail are read and classified.

Replies reach Sluice at ``reply+<token>@<reply_domain>`` (a tenant's
``reply_domain``, answered by the inbound listener) or, for tenants that keep
replies in their own mailbox, through an IMAP mailbox polled by
``scheduler/replies_imap.py``. A mailbox's password must come from the
environment, like the AI key, and is left out of the repr.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from conf.schema.base import EnvText, Section


class ImapMailbox(Section):
    tenant: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(default=993, gt=0, lt=65536)
    # Implicit TLS (IMAPS, port 993); false: plain IMAP (a loopback test server).
    tls: bool = True
    username: str = Field(min_length=1)
    password: str = Field(default="", repr=False)
    folder: str = Field(default="INBOX", min_length=1)
    # Seconds between two looks at the folder.
    interval: float = Field(default=60.0, gt=0)
    # Seconds one connection may take to answer.
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _password_from_environment(cls, data: Any) -> Any:
        if isinstance(data, dict):
            value = data.get("password")
            if isinstance(value, str) and value and not isinstance(value, EnvText):
                raise ValueError(
                    'password must come from the environment: password: "${IMAP_PASSWORD}"'
                )
        return data


class ReplySettings(Section):
    # Off: reply addresses are refused and nothing is classified (Reply-To stays unset).
    enabled: bool = True
    # Below this confidence the model's class is kept but marked for review.
    min_confidence: float = Field(default=0.7, ge=0, le=1)
    # Seconds an out-of-office pushes the next step when it gives no return date.
    out_of_office_delay: float = Field(default=7 * 86400.0, gt=0)
    # Characters of the reply (quotes and signature stripped) sent to the model.
    max_chars: int = Field(default=4000, gt=100, le=100_000)
    # Tokens the model's JSON answer may use.
    max_tokens: int = Field(default=200, gt=0, le=4096)
    # Tenants that keep replies in their own mailbox.
    mailboxes: tuple[ImapMailbox, ...] = ()
