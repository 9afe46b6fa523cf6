"""Bounce and complaint messages written for Sluice's own tests (not from the corpus)."""

from __future__ import annotations

import email.utils


def dsn(
    to: str,
    recipient: str,
    *,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    action: str = "failed",
    original: str = "",
    reporting: str = "mx.example.net",
) -> bytes:
    """An RFC 3464 delivery status notification to ``to`` about ``recipient``."""
    diagnostic = diagnostic.format(rcpt=recipient)
    original = original or (
        f"From: news@acme-mail.com\r\nTo: {recipient}\r\nSubject: Hello\r\n"
        "Message-ID: <orig@acme-mail.com>\r\n"
    )
    boundary = "BOUNDARY-dsn-1"
    return (
        f"From: MAILER-DAEMON@{reporting}\r\nTo: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {email.utils.formatdate()}\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {reporting}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Remote-MTA: dns; {reporting}\r\nDiagnostic-Code: {diagnostic}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def arf(to: str, recipient: str, return_path: str, source_ip: str = "192.0.2.10") -> bytes:
    """An RFC 5965 abuse report whose copy of the original carries ``return_path``."""
    boundary = "BOUNDARY-arf-1"
    return (
        f"From: feedback@provider.example\r\nTo: {to}\r\nSubject: complaint about message\r\n"
        f"Date: {email.utils.formatdate()}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: Provider-FBL/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {recipient}\r\nSource-IP: {source_ip}\r\n"
        f"Arrival-Date: {email.utils.formatdate()}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Return-Path: <{return_path}>\r\nFrom: news@acme-mail.com\r\nTo: {recipient}\r\n"
        "Subject: Hello\r\nMessage-ID: <orig@acme-mail.com>\r\n\r\nHi there.\r\n"
        f"--{boundary}--\r\n"
    ).encode()
