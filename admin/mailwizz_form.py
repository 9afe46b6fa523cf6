"""Every field of MailWizz's SMTP delivery-server form, with the value to type and why.

MailWizz never retries a refusal (any 4xx or 5xx marks the subscriber
*giveup*), so a wrong value here costs mail rather than a retry: a bounce
server outside ``sender_domains`` makes every message fail at MAIL, a
timeout shorter than Sluice's relay counts delivered mail as failed. The
README's "Pointing MailWizz at Sluice" table names the same fields (a test
compares them).
"""

from __future__ import annotations

from conf import Settings, TenantSettings, split_hostport

# A connection carries this many messages: MailWizz's default (1) opens a TCP
# connection and AUTH per message; Sluice keeps a connection after a refusal.
MAX_CONNECTION_MESSAGES = 100

FIELDS = (
    "Hostname",
    "Port",
    "Protocol",
    "Username",
    "Password",
    "Timeout",
    "From email",
    "Force FROM",
    "Bounce server",
    "Max connection messages",
    "Hourly quota",
    "Daily quota",
    "Monthly quota",
    "Warmup plan",
    "Additional headers",
    "Retry failed sendings",
    "PowerMTA webhook (/dswh/pmta)",
)


def form(
    settings: Settings, t: TenantSettings, hourly: int | None, daily: int | None
) -> list[dict[str, str]]:
    """The form for tenant ``t``; ``hourly`` and ``daily`` are what its pool can take now."""
    smtp = settings.smtp
    _, port = split_hostport(smtp.listen)
    domains = ", ".join(t.sender_domains)
    rows = [
        ("Hostname", smtp.advertised_host or smtp.hostname, "the name MailWizz connects to"),
        ("Port", str(port), "the port of smtp.listen"),
        _protocol(settings),
        *_login(t),
        (
            "Timeout",
            f"{smtp.upstream_timeout:g}",
            f"smtp.upstream_timeout: Sluice answers the final dot within downstream.timeout "
            f"({settings.downstream.timeout:g} s) and check-config warns when that is too close",
        ),
        (
            "From email",
            f"an address at {domains}",
            "the header From must be in the tenant's sender_domains, or 550 5.7.1 at DATA",
        ),
        _force_from(t),
        _bounce_server(t, domains),
        (
            "Max connection messages",
            str(MAX_CONNECTION_MESSAGES),
            "50-100: MailWizz's default 1 opens a connection and AUTH per message; "
            "Sluice keeps the connection after a refused message",
        ),
        *_quotas(settings, t, hourly, daily),
        ("Monthly quota", "0", "Sluice keeps no monthly limit; 0 is no limit in MailWizz"),
        (
            "Warmup plan",
            "none: do not attach a MailWizz warmup plan",
            "Sluice warms the IPs; MailWizz's hourly job would overwrite the quotas "
            "(and the mailwizz: sync leaves a server with a plan alone)",
        ),
        _headers(t),
        (
            "Retry failed sendings",
            "yes (Backend > Settings > Cron)",
            "a safety net: MailWizz gives up a subscriber on any refusal, even a 451, "
            "and this tries the giveups again after the list (off by default)",
        ),
        _dswh(t),
    ]
    return [{"field": f, "value": v, "why": w} for f, v, w in rows]


def _protocol(settings: Settings) -> tuple[str, str, str]:
    if settings.smtp.tls is not None:
        return ("Protocol", "TLS", "STARTTLS on the plain port (not SSL from the start)")
    return (
        "Protocol",
        "none",
        "smtp.tls is not set: Sluice takes AUTH in clear only from loopback and trusted networks",
    )


def _login(t: TenantSettings) -> list[tuple[str, str, str]]:
    if not t.credentials:
        networks = ", ".join(t.trusted_networks)
        why = f"no credentials: MailWizz connects from {networks} without AUTH"
        return [("Username", "(empty)", why), ("Password", "(empty)", why)]
    names = ", ".join(c.username for c in t.credentials)
    return [
        ("Username", names, "a credentials entry of the tenant"),
        (
            "Password",
            "the password of that entry",
            "Sluice keeps only its hash (sluice hash-password)",
        ),
    ]


def _force_from(t: TenantSettings) -> tuple[str, str, str]:
    if "*" in t.sender_domains:
        return ("Force FROM", "never", "the tenant may send from any domain")
    return (
        "Force FROM",
        "always",
        "a list whose From is in another domain would be refused at DATA (550 5.7.1)",
    )


def _bounce_server(t: TenantSettings, domains: str) -> tuple[str, str, str]:
    why = (
        "MailWizz sends its address as the envelope sender: outside sender_domains "
        "every message is refused at MAIL (550 5.7.1)"
    )
    if t.bounce_domain:
        why += f"; Sluice then writes VERP senders at {t.bounce_domain}"
    return ("Bounce server", f"one whose email address is at {domains}", why)


def _quotas(
    settings: Settings, t: TenantSettings, hourly: int | None, daily: int | None
) -> list[tuple[str, str, str]]:
    sync = settings.mailwizz
    ids = [str(s.server_id) for s in sync.servers if s.tenant == t.name] if sync else []
    if sync is not None and ids:
        value = f"managed by Sluice (server_id {', '.join(ids)})"
        why = f"the mailwizz: sync writes it every {sync.interval:g} s; what you type is replaced"
        return [("Hourly quota", value, why), ("Daily quota", value, why)]
    why = (
        "what the pool can take now (0: no limit); MailWizz waits on its own quota but "
        "gives up a subscriber on Sluice's 451, so map this server in mailwizz: to keep it current"
    )
    return [("Hourly quota", _quota(hourly), why), ("Daily quota", _quota(daily), why)]


def _quota(left: int | None) -> str:
    if left is None:
        return "0"
    # MailWizz reads 0 as no limit: with nothing left, the server has to wait.
    return str(left) if left > 0 else "none left now: set the server inactive until it frees"


def _headers(t: TenantSettings) -> tuple[str, str, str]:
    if t.job_header.lower() in ("x-mw-campaign-uid", "x-mw-subscriber-uid"):
        return ("Additional headers", "none", f"MailWizz adds {t.job_header} itself")
    return (
        "Additional headers",
        f"{t.job_header}: [CAMPAIGN_UID]",
        f"the campaign, copied into {t.job_out_header} for PowerMTA's accounting",
    )


def _dswh(t: TenantSettings) -> tuple[str, str, str]:
    why = (
        "Sluice posts bounces and complaints there, matched on the Message-ID MailWizz set; "
        "MailWizz checks no credentials on it: allow only Sluice's address at the web server"
    )
    if t.mailwizz_dswh:
        return ("PowerMTA webhook (/dswh/pmta)", t.mailwizz_dswh, why)
    return (
        "PowerMTA webhook (/dswh/pmta)",
        "set tenants[].mailwizz_dswh to https://<mailwizz>/index.php/dswh/pmta",
        why,
    )
