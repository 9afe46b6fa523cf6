"""Configuration: the example loads, errors name the key path and line."""

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import conf

EXAMPLE = Path(conf.__file__).with_name("sluice.example.yaml")


def test_embedded_default_loads():
    settings = conf.load(environ={})
    assert settings.smtp.listen == "127.0.0.1:2525"
    assert settings.http.admin_listen == "127.0.0.1:8025"
    assert settings.http.public_listen == "127.0.0.1:8080"
    assert settings.downstream.sink == "var/outbox" and settings.redis is None
    assert settings.database.startswith("sqlite:///var/")


def test_config_path_from_environment(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("smtp: {listen: '127.0.0.1:2600'}\n")
    assert conf.load(environ={"SLUICE_CONFIG": str(path)}).smtp.listen == "127.0.0.1:2600"


def test_example_has_every_key_and_only_fails_on_missing_files(tmp_path):
    env = {"SLUICE_DB_PASSWORD": "x", "ACME_SMTP_HASH": "scrypt$16384$8$1$c2FsdA==$aGFzaA=="}
    env["SLUICE_TRACKING_KEY"] = "k" * 32
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(EXAMPLE.read_text(), environ=env)
    # Only the files the example points at are missing on a test machine.
    assert all("file not found" in p for p in err.value.problems), err.value.problems
    text = EXAMPLE.read_text()
    missing = [
        path for path in _key_paths(conf.Settings) if f"{path.rsplit('.', 1)[-1]}:" not in text
    ]
    assert missing == [], f"not in the example: {', '.join(missing)}"


def _key_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of the schema, nested sections (and their tuples and dicts) included."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        for inner in _models_in(info.annotation):
            out += _key_paths(inner, f"{path}.")
    return out


def _models_in(hint: object) -> list[type[BaseModel]]:
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [hint]
    return [m for arg in typing.get_args(hint) for m in _models_in(arg)]


def test_errors_name_path_and_line(tmp_path):
    text = """\
smtp:
  listen: nope
  wrokers: 2
tenants:
  - name: acme
    pool: acme
    trusted_networks: [10.0.0.0/8]
    sender_domains: [acme-mail.com]
  - name: beta
    pool: beta
    trusted_networks: [not-a-net]
    sender_domains: [beta.example]
    dkim:
      - {domain: beta.example, selector: s1, key_file: /nonexistent/key.pem}
pools:
  acme: [{ip: 192.0.2.1, vmta: a1, hostname: mta1.example}]
"""
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(text, source="x.yaml", environ={})
    problems = err.value.problems
    assert 'smtp.listen: must be "host:port" (for IPv6 "[::1]:port") (line 2)' in problems
    assert any(
        p.startswith("smtp.wrokers: unknown key") and p.endswith("(line 3)") for p in problems
    )
    assert any(
        p.startswith("tenants[1].trusted_networks: not IP networks") and "(line 11)" in p
        for p in problems
    )
    assert "tenants[1].dkim[0].key_file: file not found (line 14)" in problems
    assert "x.yaml" in str(err.value)


def test_cross_checks_and_environment(tmp_path):
    text = """\
smtp: {workers: 2}
downstream: {port: "${SINK_PORT}"}
tenants:
  - {name: acme, pool: nowhere, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
pools:
  acme: [{ip: 192.0.2.1, vmta: a1, hostname: h}]
"""
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(text, environ={"SINK_PORT": "2526"})
    assert "tenants[0].pool: no pool named 'nowhere' in pools (line 4)" in err.value.problems
    assert any(
        p.startswith("smtp.workers: more than one worker needs shared counters")
        for p in err.value.problems
    )
    ok = conf.parse(
        text.replace("nowhere", "acme").replace("workers: 2", "workers: 1"),
        environ={"SINK_PORT": "2526"},
    )
    assert ok.downstream.port == 2526


def test_missing_environment_variable_is_named():
    with pytest.raises(conf.ConfigError) as err:
        conf.parse("database: 'postgresql://u:${NOPE}@h/db'\n", environ={})
    assert err.value.problems == ["database: environment variable NOPE is not set (line 1)"]


def test_invalid_yaml_and_duplicate_keys():
    with pytest.raises(conf.ConfigError) as err:
        conf.parse("smtp: {listen: [\n", environ={})
    assert "not valid YAML" in err.value.problems[0]
    with pytest.raises(conf.ConfigError) as err:
        conf.parse("redis: null\nredis: null\n", environ={})
    assert err.value.problems == ["redis: duplicate key (line 2)"]


def test_settings_are_frozen():
    settings = conf.load(environ={})
    with pytest.raises(ValidationError, match="frozen"):
        settings.smtp.listen = "0.0.0.0:25"  # type: ignore[misc]


def test_environment_values_take_the_type_of_their_field():
    text = 'downstream: {port: "${PORT}", starttls: "${TLS}", helo: "${HELO}"}\n'
    got = conf.parse(text, environ={"PORT": "2526", "TLS": "true", "HELO": "007"}).downstream
    assert (got.port, got.starttls, got.helo) == (2526, True, "007")
    # Written in the file, a quoted number stays text: more often a slip than a wish.
    with pytest.raises(conf.ConfigError) as err:
        conf.parse('downstream: {port: "2526"}\n', environ={})
    assert err.value.problems == ["downstream.port: must be an integer, not a string (line 1)"]
    # An unset variable is the one error of its field.
    with pytest.raises(conf.ConfigError) as err:
        conf.parse('downstream: {port: "${A}${B}"}\n', environ={})
    assert err.value.problems == [
        "downstream.port: environment variable A is not set (line 1)",
        "downstream.port: environment variable B is not set (line 1)",
    ]


def test_errors_come_in_the_order_of_the_schema():
    text = "log_level: loud\nsmtp:\n  timeout: 0\n  bogus: 1\n  listen: x\n"
    with pytest.raises(conf.ConfigError) as err:
        conf.parse(text, environ={})
    assert [p.split(":")[0] for p in err.value.problems] == [
        "smtp.bogus",
        "smtp.listen",
        "smtp.timeout",
        "log_level",
    ]


def test_sections_compare_by_value_and_copy_with_changes():
    # A reload compares sections to know what it must restart.
    written = conf.parse("downstream: {host: 127.0.0.1, port: 25}\n", environ={})
    default = conf.parse("redis: null\n", environ={})
    assert written.downstream == default.downstream and written == default
    assert hash(written.downstream) == hash(default.downstream)
    moved = written.model_copy(update={"downstream": conf.DownstreamSettings(port=26)})
    assert moved.downstream != written.downstream and moved.smtp == written.smtp


def test_sections_built_in_code_are_checked_too():
    with pytest.raises(ValidationError, match="credentials: a tenant needs credentials"):
        conf.TenantSettings(name="acme", pool="p", sender_domains=("a.example",))
    with pytest.raises(ValidationError, match="must be 1-65535"):
        conf.DownstreamSettings(port=0)
