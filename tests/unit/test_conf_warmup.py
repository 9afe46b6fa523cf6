"""Warmup settings: schedules, per-IP warmup and caps, each error with its path and line."""

import pytest

import conf

POOLS = """\
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.example}
    - {ip: 192.0.2.12, vmta: acme-3, hostname: mta3.example,
       warmup: {schedule: SCHED, started: "STARTED"}}
    - {ip: 192.0.2.13, vmta: acme-4, hostname: mta4.example, daily_limit: LIMIT}
"""


def parse(text: str, **values: str) -> conf.Settings:
    for key, value in values.items():
        text = text.replace(key, value)
    return conf.parse(text, source="w.yaml", environ={})


def test_defaults_and_a_full_example():
    settings = conf.load(environ={})
    assert settings.warmup.schedules == {}
    assert (settings.warmup.sending_hours, settings.warmup.burst) == (16, 1.25)
    assert settings.warmup.timezone == "UTC"
    [local] = settings.pools["local"]
    assert local.warmup is None and local.daily_limit is None

    text = "warmup:\n  schedules: {fast: {default: [10, 20], google: [5, 10]}}\n"
    text += "  timezone: Europe/Paris\n  sending_hours: 10\n  burst: 1\n" + POOLS
    got = parse(text, SCHED="fast", STARTED="2026-11-20", LIMIT="20000")
    assert got.warmup.schedules == {"fast": {"default": (10, 20), "google": (5, 10)}}
    warming, capped = got.pools["acme"][1:]
    assert warming.warmup is not None and warming.warmup.schedule == "fast"
    assert warming.warmup.started == "2026-11-20" and capped.daily_limit == 20000


def test_built_in_schedule_needs_no_declaration():
    got = parse(POOLS, SCHED="standard", STARTED="2026-11-20", LIMIT="5")
    assert got.pools["acme"][1].warmup.schedule == "standard"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (
            {"SCHED": "nope"},
            "pools.acme[1].warmup.schedule: no schedule named 'nope' (known: standard) (line 5)",
        ),
        (
            {"STARTED": "20/11/2026"},
            'pools.acme[1].warmup.started: not a date (write it as "YYYY-MM-DD",'
            ' e.g. "2026-11-20") (line 5)',
        ),
        ({"LIMIT": "0"}, "pools.acme[2].daily_limit: must be greater than 0 (line 6)"),
        ({"LIMIT": "lots"}, "pools.acme[2].daily_limit: must be an integer, not a string (line 6)"),
    ],
)
def test_pool_errors_name_path_and_line(values, problem):
    defaults = {"SCHED": "standard", "STARTED": "2026-11-20", "LIMIT": "5"}
    with pytest.raises(conf.ConfigError) as err:
        parse(POOLS, **{**defaults, **values})
    assert err.value.problems == [problem]


@pytest.mark.parametrize(
    ("warmup", "problem"),
    [
        ("{timezone: Mars/Olympus}", 'warmup.timezone: not an IANA time zone (e.g. "UTC" or'),
        ("{sending_hours: 30}", "warmup.sending_hours: must be more than 0 and at most 24"),
        ("{schedules: {x: {google: [1]}}}", 'warmup.schedules.x: a schedule needs a "default"'),
        ("{schedules: {x: {default: [5, 4]}}}", "warmup.schedules.x.default[1]: lower than the"),
        ("{schedules: {x: {default: [0]}}}", "warmup.schedules.x.default[0]: must be greater"),
        ("{schedules: {x: {default: [1], gmail: [1]}}}", "warmup.schedules.x.gmail: unknown group"),
        ("{schedules: {x: {default: []}}}", "warmup.schedules.x.default: needs at least one day"),
    ],
)
def test_warmup_errors(warmup, problem):
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(f"redis: null\nwarmup: {warmup}\n", environ={})
    [got] = err.value.problems
    assert got.startswith(problem) and got.endswith("(line 2)"), got


def test_tenants_sharing_a_pool_share_a_zone_and_pacing():
    text = """\
tenants:
  - {name: a, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [a.example],
     timezone: Europe/Paris}
  - {name: b, pool: p, trusted_networks: [127.0.0.2/32], sender_domains: [b.example],
     sending_hours: 8}
pools:
  p:
    - {ip: 192.0.2.10, vmta: p-1, hostname: mta1.example}
"""
    with pytest.raises(conf.ConfigError) as err:
        parse(text)
    problems = "\n".join(err.value.problems)
    assert "tenants[1].timezone: pool 'p' is shared with tenants[0]" in problems
    assert "'Europe/Paris'" in problems
    assert "tenants[1].sending_hours: pool 'p' is shared with tenants[0]" in problems
