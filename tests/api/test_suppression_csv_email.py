"""A suppression CSV exported by MailWizz or a list tool names its column `email`."""

import io

import pytest

from policy.suppression import SuppressionError, read_csv
from tests.api.test_api_lists_suppression import settings
from tests.support.admin_api import serve_admin


def test_email_column_is_the_address() -> None:
    rows = read_csv(io.StringIO("Email,reason\n A@X.example ,complaint\n"), tenant="acme")
    assert [(r.address, r.reason) for r in rows] == [("a@x.example", "complaint")]
    with pytest.raises(SuppressionError, match="named twice"):
        read_csv(io.StringIO("address,email\na@x.example,b@x.example\n"), tenant="acme")


async def test_import_over_http_takes_an_email_column(store):
    async with serve_admin(settings(), store) as server, server.session("operator") as op:
        r = await op.post(
            "/api/suppression/import?tenant=acme",
            data="email\none@x.example\ntwo@x.example\n",
            headers={"Content-Type": "text/csv"},
        )
        assert (r.status, await r.json()) == (200, {"imported": 2})
    assert {c.address for _, c in await store.suppression_changes(0)} == {
        "one@x.example",
        "two@x.example",
    }
