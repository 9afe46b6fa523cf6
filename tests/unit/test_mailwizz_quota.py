"""The MailWizz quota sync's pure parts: its settings, an IP's windows, what to write."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

import conf
from conf.schema.mailwizz import MailwizzSyncSettings, problems
from policy.quota.mailwizz import (
    Capacity,
    ClockCheck,
    ServerRow,
    Window,
    allowance,
    decide,
    ip_windows,
    server_capacity,
)
from policy.quota.operations import IpQuota, Line


def sync(**kw) -> MailwizzSyncSettings:
    # Lax only for lists as tuples, as the YAML loader reads them; the fields keep their checks.
    data = {"database": "mysql://sluice_sync:pw@db/mailwizz", **kw}
    return MailwizzSyncSettings.model_validate(data, strict=False)


def test_settings_check_each_key_and_keep_the_password_out_of_the_repr():
    s = sync(servers=[{"server_id": 3, "tenant": "acme", "ips": ["192.0.2.10"]}])
    assert (s.margin, s.interval, s.table_prefix, s.time_zone) == (0.03, 300, "mw_", "+00:00")
    assert "pw" not in repr(s) and "pw" not in repr(s.dsn())
    assert s.dsn().where() == "db:3306/mailwizz"
    assert s.table("delivery_server") == "`mw_delivery_server`"
    bad = [
        {"database": "postgresql://u@db/mailwizz"},
        {"database": "mysql://db"},  # no user, no database
        {"margin": 0.5},
        {"margin": -0.1},
        {"interval": 0},
        {"table_prefix": "mw`; drop"},
        {"time_zone": "Europe/Paris"},
        {"servers": [{"server_id": 0, "tenant": "acme"}]},
        {"servers": [{"server_id": 3, "tenant": "Acme"}]},
        {"servers": [{"server_id": 3, "tenant": "acme", "ips": ["not-an-ip"]}]},
        {"servers": [{"server_id": 3, "tenant": "a"}, {"server_id": 3, "tenant": "b"}]},
        {"servers": [{"server_id": 3, "tenant": "acme", "pool": "x"}]},  # unknown key
    ]
    for fields in bad:
        args = {"database": "mysql://u@db/mw", **fields}
        with pytest.raises(pydantic.ValidationError):
            MailwizzSyncSettings.model_validate(args, strict=False)


def test_the_loader_names_each_bad_key_of_the_section_with_its_line():
    text = """
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: h1}
mailwizz:
  database: "postgresql://u@db/mw"
  servers:
    - {server_id: "3", tenant: acme}
    - {server_id: 4, tenant: other}
  margin: 0.5
"""
    with pytest.raises(conf.ConfigError) as caught:
        conf.parse(text, environ={})
    lines = caught.value.problems
    assert any(p.startswith("mailwizz.database: ") and "(line 8)" in p for p in lines), lines
    assert any(p.startswith("mailwizz.servers[0].server_id: ") for p in lines), lines
    assert any(p.startswith("mailwizz.margin: ") and "(line 12)" in p for p in lines), lines
    ok = text.replace("postgresql://u@db/mw", "mysql://u@db/mw").replace('"3"', "3")
    with pytest.raises(conf.ConfigError) as caught:
        conf.parse(ok.replace("margin: 0.5", "margin: 0.1"), environ={})
    assert caught.value.problems == [
        "mailwizz.servers[1].tenant: no tenant 'other' (known: acme) (line 11)"
    ]


def test_problems_name_a_tenant_or_ip_the_settings_do_not_have():
    settings = conf.parse(
        """
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: h1}
""",
        environ={},
    )
    s = sync(
        servers=[
            {"server_id": 3, "tenant": "acme", "ips": ["192.0.2.10", "192.0.2.99"]},
            {"server_id": 4, "tenant": "other"},
        ]
    )
    assert problems(s, settings) == [
        ("servers[0].ips[1]", "192.0.2.99 is not in pool 'acme'"),
        ("servers[1].tenant", "no tenant 'other' (known: acme)"),
    ]


def quota(ip: str, daily: Line, hourly: Line | None = None, out: str | None = None) -> IpQuota:
    return IpQuota("acme", ip, f"v-{ip}", "warming" if hourly else "warm", 1, daily, hourly,
                   out_of_rotation=out)  # fmt: skip


def test_a_warming_ip_is_paced_by_the_hours_left_and_a_throttle_caps_its_hour():
    row = quota("a", Line(1000, 300), Line(100, 40))
    hour, day = ip_windows(row, None, hours_after=3)
    assert (hour, day) == (Window(100, 60), Window(1000, 60 + 3 * 100))
    hour, day = ip_windows(row, Line(30, 25), hours_after=3)
    assert (hour, day) == (Window(30, 5), Window(1000, 5 + 3 * 30))
    # A warm IP without limits: none, unless throttled.
    assert ip_windows(quota("b", Line(None, 7)), None, 3) == (Window(None, None),) * 2
    assert ip_windows(quota("b", Line(None, 7)), Line(10, 4), 3) == (Window(10, 6), Window(36, 36))


def test_margin_comes_off_the_limit_and_shared_ips_are_split():
    assert allowance([Window(1000, 500)], [1], 0.03) == 470
    assert allowance([Window(1000, 10)], [1], 0.03) == 0  # never below nothing
    assert allowance([Window(1000, 500), Window(None, None)], [1, 1], 0.03) is None
    assert allowance([Window(1000, 500)], [2], 0) == 250
    rows = [quota("a", Line(1000, 0)), quota("b", Line(1000, 0), out="quarantined")]
    cap = server_capacity("acme", rows, {}, {"a": 1, "b": 1}, 10, 0.0)
    assert (cap.hourly, cap.daily, cap.ips) == (1000, 1000, ("a",))


def row(status="active", hourly=100, daily=1000, plan=None, used_hour=0, used_day=0) -> ServerRow:
    return ServerRow(3, status, hourly, daily, plan, used_hour, used_day)


def cap(hourly: int | None, daily: int | None, stopped: str = "") -> Capacity:
    return Capacity("acme", hourly, daily, ("192.0.2.10",), stopped)


def test_the_quota_written_is_mailwizz_s_own_count_plus_what_is_left():
    d = decide(row(used_hour=30, used_day=200), cap(70, 800), ours=False, refresh=False)
    assert (d.write, d.changed, d.status, d.hourly_quota, d.daily_quota) == (
        False,
        False,
        "active",
        100,
        1000,
    )
    d = decide(row(used_hour=30, used_day=200), cap(50, 800), ours=False, refresh=False)
    assert (d.write, d.hourly_quota, d.daily_quota) == (True, 80, 1000)
    # Unchanged but due: written again (the refresh).
    d = decide(row(used_hour=30, used_day=200), cap(70, 800), ours=False, refresh=True)
    assert (d.write, d.changed) == (True, False)
    # No limit in Sluice: 0, MailWizz's "no limit".
    d = decide(row(), cap(None, None), ours=False, refresh=False)
    assert (d.hourly_quota, d.daily_quota) == (0, 0)


def test_never_zero_for_none_left_a_disabled_server_instead():
    # Used up with MailWizz's own sends in the hour: its count stops it, no status change.
    d = decide(row(used_hour=100, used_day=400), cap(0, 600), ours=False, refresh=False)
    assert (d.status, d.hourly_quota) == ("active", 100)
    # Used up by others: the quota would be 0, so the server is disabled, quotas kept.
    d = decide(row(), cap(0, 600), ours=False, refresh=False)
    assert (d.write, d.status, d.hourly_quota, d.daily_quota) == (True, "disabled", 100, 1000)
    assert d.why == "disabled: hourly capacity used up"
    d = decide(row(used_hour=5), cap(50, 500, stopped="tenant acme pause switch"), ours=False,
               refresh=False)  # fmt: skip
    assert (d.status, d.why) == ("disabled", "disabled: tenant acme pause switch")
    # Capacity back: enabled only if Sluice disabled it.
    assert decide(row("disabled"), cap(50, 500), ours=True, refresh=False).status == "active"
    mine = decide(row("disabled"), cap(50, 500), ours=False, refresh=False)
    assert (mine.status, mine.hourly_quota) == ("disabled", 50)
    # Already disabled or inactive and still nothing left: nothing to write.
    assert not decide(row("inactive"), cap(0, 0), ours=False, refresh=True).write


def test_a_server_with_a_mailwizz_warmup_plan_is_left_alone():
    d = decide(row(plan=7), cap(0, 0), ours=True, refresh=True)
    assert not d.write and "warmup plan 7" in d.warning


def test_the_clock_note_says_when_mailwizz_s_day_is_not_the_tenant_s():
    utc = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    same = ClockCheck(utc.replace(tzinfo=None), utc, "acme", "UTC")
    assert same.aligned and same.note() == ""
    paris = ClockCheck(utc.replace(tzinfo=None), utc, "acme", "Europe/Paris")
    assert not paris.aligned
    assert paris.note().startswith(
        "MailWizz's day (UTC+00:00) is not tenant acme's quota day (Europe/Paris, UTC+01:00):"
        " now 2026-11-21 in MailWizz, 2026-11-22 for acme"
    )
