"""The PowerMTA configuration Sluice needs, written from Sluice's own settings.

One ``<virtual-mta>`` per pool IP, one ``<virtual-mta-pool>`` per tenant, the
``<source>`` block that lets Sluice choose the VMTA and name the job, the
``<acct-file>`` whose records the bounce feedback reads back, and, when
PowerMTA signs too, its ``domain-key`` lines. The output is sorted, so the
same settings always give the same text (``sluice powermta-config`` and
``GET /api/powermta/config`` print it).

Only directives found in PowerMTA's documentation are written. Sources:

- PowerMTA v4.0 User's Guide (Port25, rev. 2012-03-08-01), §11.2.9 and
  §11.3: the CSV accounting file with its header line, ``records`` and
  ``record-fields`` (a file holding several types has the union of their
  columns).
- Port25's sample configuration shipped with PowerMTA (``$Id: config 14069``,
  copy at pastebin.com/0R7JjaJ5): ``smtp-listener``, ``<source>`` with
  ``always-allow-relaying``, ``process-x-virtual-mta``, ``smtp-service``.
- Port25's submission examples (pmta.examples.submitter JavaMail.java): the
  X-Job header needs ``process-x-job`` and X-Virtual-MTA needs
  ``process-x-virtual-mta`` on the sending <source> ("section 3.2.4 in the
  User's Guide").
- A PowerMTA directive dictionary in the code index (recipientDomainSettings):
  ``dkim-sign`` (per <domain>, default false, needs ``domain-key``).
- postmastery.com "DKIM recipe for PowerMTA": ``domain-key`` takes the
  selector, the signing domain and the private key file.
- /work/shared/research/mission-anchors.md §3.2 and §4.2: ``virtual-mta``,
  ``smtp-source-host IP hostname``, ``virtual-mta-pool``, ``acct-file`` with
  ``records``, ``record-fields``, ``move-interval``, ``max-size``,
  ``delete-after``; ``dkim-algorithm`` is RSA only.
- Public configurations read for the value forms: magicdude4eva's Port25
  logstash gist (``move-interval 5m``, ``max-size 500M``, ``delete-after 60d``,
  ``records d,b,r,t,tq,f,rb,rs``) and amerom/pmta-log-handler
  (``record-fields b *, header_...``).

Left out on purpose: ``add-received-header`` and ``jobid-header`` (seen only in
third-party configurations, not in the guide).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import posixpath
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from admin import powermta_vmtas
from conf import DkimSettings, Settings
from policy import dkim_dns

# The record types that carry feedback (policy.feedback.accounting reads b, rb, rs, t, f;
from policy.feedback import accounting
from policy.quota import calendar

# deliveries need nothing: Sluice records what it relayed itself).
RECORDS = tuple(t for t in accounting.TYPES if t not in ("d", "tq"))
# Beyond each type's default fields ("*"): the headers the feedback reads when a
# record carries no VERP token (policy.feedback.accounting, policy.feedback.notify).
HEADER_FIELDS = ("header_Message-Id", "header_X-Mw-Campaign-Uid", "header_X-Mw-Subscriber-Uid")
# Rotation: PowerMTA moves acct.csv to acct-<date>.csv, which accounting_pattern
# still matches; a week leaves Sluice ample time to read a moved file.
MOVE_INTERVAL = "1h"
MAX_SIZE = "100M"
DELETE_AFTER = "7d"
DEFAULT_ACCOUNTING_FOLDER = "/var/log/pmta"
INDENT = "    "

KeyType = Callable[[str], str]  # key file path -> "rsa" | "ed25519"; raises ValueError


class PowerMtaConfigError(ValueError):
    """The settings do not say something PowerMTA needs; ``key`` names the setting."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def render(settings: Settings, key_type: KeyType | None = None, today: date | None = None) -> str:
    """The configuration fragment; raises PowerMtaConfigError naming a missing setting.

    ``key_type`` tells RSA from Ed25519 keys when PowerMTA signs (by default it
    reads the key file); nothing is read otherwise. ``today`` (by default, in
    ``warmup.timezone``) sets the warming IPs' ``max-msg-rate``.
    """
    vmtas = powermta_vmtas.vmtas_of(settings, PowerMtaConfigError)
    if today is None:
        today = calendar.local_today(settings.warmup.timezone, datetime.now(UTC))
    keys: dict[str, list[str]] = {}
    dkim_notes = ""
    if settings.powermta.dkim_sign:
        keys, dkim_notes = _dkim(settings, key_type or _read_key_type)
    sections = [
        _header(settings),
        _listener(settings),
        _source(settings),
        dkim_notes,
        powermta_vmtas.render(settings, vmtas, keys, today),
        _pools(settings, vmtas),
    ]
    sections.append(_accounting(settings))
    return "\n".join(s for s in sections if s)


def source_address(settings: Settings) -> str:
    """Sluice's address as PowerMTA sees it: the setting, or loopback when PowerMTA is local."""
    if settings.powermta.source_address:
        return settings.powermta.source_address
    host = settings.downstream.host
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return "::1" if address.version == 6 else "127.0.0.1"
    raise PowerMtaConfigError(
        "powermta.source_address",
        f"PowerMTA is at {host} (downstream.host), not on loopback: set the address"
        " Sluice connects to it from",
    )


def accounting_file(settings: Settings) -> str:
    if settings.powermta.accounting_file:
        return settings.powermta.accounting_file
    folder = settings.feedback.accounting_folder or DEFAULT_ACCOUNTING_FOLDER
    return posixpath.join(folder, "acct.csv")


def _header(settings: Settings) -> str:
    lines = [
        "# PowerMTA configuration for Sluice (sluice powermta-config).",
        "# Generated from Sluice's settings: generate it again after changing pools,",
        "# tenants or keys. Merge it into PowerMTA's config file: smtp-listener and the",
        "# <source> block as each comment says; the <virtual-mta>, <virtual-mta-pool> and",
        "# <acct-file> blocks are Sluice's own and are added as they are. Nothing here is",
        "# a top-level <domain> block: PowerMTA's other senders are left as they were.",
    ]
    if settings.downstream.sink:
        lines.append(
            f"# Note: downstream.sink is set, so Sluice writes to {settings.downstream.sink}"
            " rather than to PowerMTA."
        )
    return _block(lines)


def _listener(settings: Settings) -> str:
    host, port = settings.downstream.host, settings.downstream.port
    lines = ["# Where Sluice relays to (downstream.host and downstream.port)."]
    try:
        version: int = ipaddress.ip_address(host).version
    except ValueError:
        version = 0
    if version == 4:
        lines.append(f"smtp-listener {host}:{port}")
    else:
        lines.append(f"# smtp-listener <the IPv4 address of {host}>:{port}")
    return _block(lines)


def _source(settings: Settings) -> str:
    lines = [
        "# Sluice: it picks each message's VirtualMTA (X-Virtual-MTA) and names",
        "# its campaign (X-Job, the accounting jobId).",
    ]
    for tenant in sorted(settings.tenants, key=lambda t: t.name):
        if tenant.vmta_header.lower() != "x-virtual-mta":
            lines.append(
                f"# Tenant {tenant.name} stamps {tenant.vmta_header} (vmta_header), but"
                " process-x-virtual-mta reads X-Virtual-MTA only."
            )
        if tenant.job_out_header.lower() != "x-job":
            lines.append(
                f"# Tenant {tenant.name} stamps {tenant.job_out_header} (job_out_header), but"
                " process-x-job reads X-Job only."
            )
    if settings.downstream.username:
        lines.append(
            f"# Sluice logs in as {settings.downstream.username} (downstream.username):"
            " PowerMTA needs that SMTP user too."
        )
    address = source_address(settings)
    if address == "127.0.0.1":  # the stock configuration's own block
        lines += [
            f"# PowerMTA's stock configuration already has a <source {address}> block: merge",
            "# these directives into it rather than adding this second one.",
        ]
    else:
        lines.append("# Sluice's own address only (powermta.source_address): add this block.")
    lines += [
        f"<source {address}>",
        f"{INDENT}always-allow-relaying yes",
        f"{INDENT}smtp-service yes",
        f"{INDENT}process-x-virtual-mta yes",
        f"{INDENT}process-x-job yes",
        "</source>",
    ]
    return _block(lines)


def pool_name(tenant: str) -> str:
    return f"{tenant}-pool"


def _pools(settings: Settings, vmtas: dict[str, powermta_vmtas.Vmta]) -> str:
    lines = ["# One pool per tenant: the VMTAs of its Sluice pool that are enabled."]
    for i, tenant in sorted(enumerate(settings.tenants), key=lambda p: p[1].name):
        name = pool_name(tenant.name)
        if name in vmtas:
            raise PowerMtaConfigError(
                f"tenants[{i}].name", f"its pool name {name!r} is also a VMTA's name"
            )
        ips = settings.pools.get(tenant.pool, ())
        enabled = sorted(ip.vmta for ip in ips if ip.enabled)
        disabled = sorted(ip.vmta for ip in ips if not ip.enabled)
        if not enabled:
            lines.append(f"# {name}: no enabled IP in pool {tenant.pool!r}")
            continue
        lines.append(f"<virtual-mta-pool {name}>")
        lines += [f"{INDENT}virtual-mta {vmta}" for vmta in enabled]
        lines += [f"{INDENT}# {vmta}: enabled: false in Sluice" for vmta in disabled]
        lines.append("</virtual-mta-pool>")
    return _block(lines)


def _dkim(settings: Settings, key_type: KeyType) -> tuple[dict[str, list[str]], str]:
    """(VMTA name -> its tenants' ``domain-key`` lines, the comments of the DKIM section)."""
    lines = [
        "# PowerMTA signs too (powermta.dkim_sign), with the tenants' RSA keys: each VirtualMTA",
        "# below holds the domain-key lines of its tenants' own domains and turns dkim-sign on",
        "# in a <domain *> nested in it, so PowerMTA's other mail is not signed by this.",
    ]
    keys: dict[str, set[str]] = {}
    skipped: set[str] = set()
    for i, tenant in enumerate(settings.tenants):
        own: set[str] = set()
        for j, entry in enumerate(tenant.dkim):
            where = f"{entry.selector} of {entry.domain} ({tenant.name})"
            if entry.domain == "*":
                skipped.add(f"# {where}: signs as each From domain, in Sluice only")
                continue
            if _key_type(entry.key_file, entry.generate, key_type, f"tenants[{i}].dkim[{j}]"):
                path = _key_path(settings, entry)
                own.add(f"domain-key {entry.selector},{entry.domain.lower()},{path}")
            else:
                skipped.add(f"# {where}: Ed25519, which PowerMTA does not sign with")
        for ip in settings.pools.get(tenant.pool, ()):
            keys.setdefault(ip.vmta, set()).update(own)
    lines += sorted(skipped)
    return {vmta: sorted(found) for vmta, found in keys.items() if found}, _block(lines)


def _key_type(path: str, generate: str | None, key_type: KeyType, where: str) -> bool:
    """True for an RSA key."""
    if generate is not None and not Path(path).exists():
        return generate == "rsa"
    try:
        return key_type(path) == "rsa"
    except (OSError, ValueError) as exc:
        raise PowerMtaConfigError(f"{where}.key_file", f"{path}: {exc}") from None


def _read_key_type(path: str) -> str:
    return dkim_dns.key_type(dkim_dns.parse_private_key(Path(path).read_bytes()))


def _key_path(settings: Settings, entry: DkimSettings) -> str:
    folder = settings.powermta.dkim_key_folder
    if folder is None:
        return entry.key_file
    return posixpath.join(folder, posixpath.basename(entry.key_file))


def _accounting(settings: Settings) -> str:
    path = accounting_file(settings)
    lines = ["# The records Sluice reads back: bounces, deferrals, remote DSNs, complaints."]
    folder = settings.feedback.accounting_folder
    if folder is None:
        lines.append(
            f"# Sluice reads them once feedback.accounting_folder names {posixpath.dirname(path)}"
            " (or where it is mounted)."
        )
    pattern = settings.feedback.accounting_pattern
    if not fnmatch.fnmatch(posixpath.basename(path), pattern):
        lines.append(
            f"# {posixpath.basename(path)} does not match feedback.accounting_pattern {pattern!r}:"
            " Sluice would not read it."
        )
    fields = ", ".join(("*", *HEADER_FIELDS))
    lines += [
        f"<acct-file {path}>",
        f"{INDENT}records {','.join(RECORDS)}",
        *(f"{INDENT}record-fields {kind} {fields}" for kind in RECORDS),
        f"{INDENT}move-interval {MOVE_INTERVAL}",
        f"{INDENT}max-size {MAX_SIZE}",
        f"{INDENT}delete-after {DELETE_AFTER}",
        "</acct-file>",
    ]
    return _block(lines)


def _block(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
