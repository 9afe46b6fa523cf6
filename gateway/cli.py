"""The ``sluice`` command."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import Any

MIN_TOKEN = 32


def _parser() -> tuple[argparse.ArgumentParser, Any]:
    """The parser of the commands every run knows; the operator commands are added later."""
    parser = argparse.ArgumentParser(prog="sluice", description="SMTP gateway for campaign mail")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument(
        "-c",
        "--config",
        help="configuration file (default: $SLUICE_CONFIG or the embedded default)",
    )

    check = sub.add_parser("check-config", help="validate a configuration and exit")
    check.add_argument("-c", "--config")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also try the database, Redis, the downstream MTA and MailWizz's database",
    )

    sub.add_parser("show-pipeline", help="print the ordered steps of an SMTP transaction")

    hp = sub.add_parser("hash-password", help="print an scrypt hash for a credentials entry")
    hp.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    ht = sub.add_parser(
        "hash-token", help="make an admin API token and the digest for http.admin_tokens"
    )
    ht.add_argument("--token-stdin", action="store_true", help="hash a token read from stdin")

    kg = sub.add_parser("dkim-keygen", help="write a DKIM private key and print its DNS record")
    kg.add_argument("--domain", required=True)
    kg.add_argument("--selector", required=True)
    kg.add_argument("--algorithm", choices=["rsa", "ed25519"], default="rsa")
    kg.add_argument("--out", help="private key file (default: <selector>.<domain>.pem)")

    pm = sub.add_parser("powermta-config", help="print the PowerMTA configuration for Sluice")
    pm.add_argument("-c", "--config")
    return parser, sub


def main(argv: Sequence[str] | None = None) -> int:
    parser, sub = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--version"]:
        from gateway.cli_migrate import version

        print(f"sluice {version()}")
        return 0
    if argv[:1] == ["run"]:
        # Parsed before the operator commands are added: their modules import
        # prometheus_client, which must first see the daemon's metrics directory.
        return _run(parser.parse_args(argv))

    from gateway import (
        cli_contacts,
        cli_dkim,
        cli_dns_check,
        cli_migrate,
        cli_policy,
        cli_reputation,
        cli_rotation,
        cli_scenarios,
        cli_spool,
    )

    commands = {
        **COMMANDS,
        **cli_policy.add_commands(sub),
        **cli_spool.add_commands(sub),
        **cli_contacts.add_commands(sub),
        **cli_scenarios.add_commands(sub),
        **cli_migrate.add_commands(sub),
        **cli_dkim.add_commands(sub),
        **cli_reputation.add_commands(sub),
        **cli_rotation.add_commands(sub),
        **cli_dns_check.add_commands(sub),
    }
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("a command is required")
    return commands[args.command](args)


def _run(args: argparse.Namespace) -> int:
    from gateway.launch import serve

    return serve(args.config)


def _check_config(args: argparse.Namespace) -> int:
    from conf import ConfigError, load
    from conf.schema.server import timeout_warnings
    from gateway.runtime import load_keys

    try:
        settings = load(args.config)
        load_keys(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    for warning in timeout_warnings(settings.smtp, settings.downstream):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"configuration OK: {len(settings.tenants)} tenant(s), {len(settings.pools)} pool(s)")
    if args.connect:
        from gateway.cli_connect import connect_all

        return 0 if connect_all(settings) else 1
    return 0


def _show_pipeline(args: argparse.Namespace) -> int:
    from gateway.pipeline import describe

    print(describe())
    return 0


def _hash_password(args: argparse.Namespace) -> int:
    from policy.passwords import hash_password

    # Without a terminal (a pipe, a provisioning script) getpass has nobody to ask.
    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("passwords differ", file=sys.stderr)
            return 1
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def _hash_token(args: argparse.Namespace) -> int:
    from admin.auth import digest, new_token

    if args.token_stdin:
        token = sys.stdin.readline().strip()
        if len(token) < MIN_TOKEN:
            # A short token can be guessed; ours are 43 characters (secrets.token_urlsafe(32)).
            print(
                f"token too short ({len(token)} characters, at least {MIN_TOKEN}): "
                "run `sluice hash-token` without --token-stdin to make one",
                file=sys.stderr,
            )
            return 1
        print(digest(token))
        return 0
    token, sha = new_token()
    print(f"token:        {token}")
    print(f"token_sha256: {sha}")
    print("; give the token to its user, put the digest in http.admin_tokens", file=sys.stderr)
    return 0


def _dkim_keygen(args: argparse.Namespace) -> int:
    from gateway.dkim import DkimKeyError, keygen_to_file

    out = args.out or f"{args.selector}.{args.domain}.pem"
    try:
        record = keygen_to_file(out, args.domain, args.selector, args.algorithm)
    except (DkimKeyError, OSError) as exc:
        print(f"dkim-keygen: {exc}", file=sys.stderr)
        return 1
    print(f"; private key written to {out}", file=sys.stderr)
    print(record)
    return 0


def _powermta_config(args: argparse.Namespace) -> int:
    from admin.powermta_config import PowerMtaConfigError, render
    from conf import ConfigError, load

    try:
        text = render(load(args.config))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except PowerMtaConfigError as exc:
        print(f"powermta-config: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


COMMANDS = {
    "run": _run,
    "check-config": _check_config,
    "show-pipeline": _show_pipeline,
    "hash-password": _hash_password,
    "hash-token": _hash_token,
    "dkim-keygen": _dkim_keygen,
    "powermta-config": _powermta_config,
}

if __name__ == "__main__":
    sys.exit(main())
