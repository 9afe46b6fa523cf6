"""What an operator types into MailWizz: the README's table and the API name the same fields."""

from __future__ import annotations

import re
from pathlib import Path

import conf
from admin.mailwizz_form import FIELDS
from tests.api.test_api_generate import CONFIG, NOW, write_config
from tests.support.admin_api import serve_admin

README = Path(__file__).resolve().parents[2] / "README.md"
SYNC = """
mailwizz:
  database: "mysql://sluice_sync:secret@127.0.0.1:3306/mailwizz"
  servers: [{server_id: 3, tenant: acme}]
  interval: 300
"""


def readme_fields() -> list[str]:
    """The first column of the table in README's "Pointing MailWizz at Sluice"."""
    text = README.read_text()
    section = text.split("## Pointing MailWizz at Sluice", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [re.split(r"\s*\|\s*", row)[1] for row in rows[1:]]  # past the header row


async def form_of(viewer, tenant: str) -> dict[str, dict[str, str]]:
    r = await viewer.get(f"/api/mailwizz/delivery-server/{tenant}")
    assert r.status == 200
    return {f["field"]: f for f in (await r.json())["form"]}


async def test_the_readme_and_the_api_give_the_same_fields(store, tmp_path):
    assert readme_fields() == list(FIELDS)
    path, _ = write_config(tmp_path, CONFIG + SYNC)
    async with serve_admin(conf.load(str(path)), store, clock=lambda: NOW) as server:
        async with server.session("viewer") as viewer:
            acme = await form_of(viewer, "acme")
            beta = await form_of(viewer, "beta")
    assert list(acme) == readme_fields() == list(beta)
    assert all(f["value"] and f["why"] for f in [*acme.values(), *beta.values()])
    assert acme["Hostname"]["value"] == "smtp.acme-mail.com" and acme["Port"]["value"] == "2525"
    assert acme["Username"]["value"] == "mailwizz-acme"
    assert (
        acme["Timeout"]["value"] == "30" and "downstream.timeout (20 s)" in acme["Timeout"]["why"]
    )
    assert acme["Force FROM"]["value"] == "always"
    bounce = acme["Bounce server"]
    assert "acme-mail.com, news.acme-mail.com" in bounce["value"]
    assert "refused at MAIL" in bounce["why"]
    assert acme["Max connection messages"]["value"] == "100"
    # acme's server is in mailwizz: servers, beta's is not.
    assert acme["Hourly quota"]["value"] == "managed by Sluice (server_id 3)"
    assert acme["Daily quota"]["value"] == "managed by Sluice (server_id 3)"
    assert (beta["Hourly quota"]["value"], beta["Daily quota"]["value"]) == ("0", "0")
    assert "do not attach" in acme["Warmup plan"]["value"]
    assert acme["Retry failed sendings"]["value"].startswith("yes")
    assert beta["Additional headers"]["value"] == "X-Campaign: [CAMPAIGN_UID]"
    dswh = acme["PowerMTA webhook (/dswh/pmta)"]
    assert "/dswh/pmta" in dswh["value"] and "web server" in dswh["why"]
    assert beta["Username"]["value"] == "(empty)" and "10.1.0.0/16" in beta["Username"]["why"]


async def test_without_the_sync_the_quotas_are_the_values_to_type(store, tmp_path):
    path, _ = write_config(tmp_path)
    async with serve_admin(conf.load(str(path)), store, clock=lambda: NOW) as server:
        async with server.session("viewer") as viewer:
            body = await (await viewer.get("/api/mailwizz/delivery-server/acme")).json()
    form = {f["field"]: f["value"] for f in body["form"]}
    assert (form["Hourly quota"], form["Daily quota"]) == (
        str(body["hourly_quota"]),
        str(body["daily_quota"]),
    )
