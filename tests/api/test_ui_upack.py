"""Universal Packages in the web UI: listed on the feed page and the home page, with a package page whose install
tab shows this project's client."""

from __future__ import annotations

import httpx

from tests.api.conftest import ADMIN_TOKEN, ORG, Api, in_process
from tests.api.upack_helpers import publish, random_package
from tests.ui_client import sign_in


async def test_a_universal_package_is_listed_and_has_its_page(feed_api: Api) -> None:
    api = feed_api
    await publish(api, "tool", "1.0.0", random_package())
    await publish(api, "tool", "1.2.0", random_package())
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as http:
        assert (await sign_in(http, ADMIN_TOKEN)).status_code == 303
        home = await http.get(f"/{ORG}/_artifacts")
        assert home.status_code == 200 and "Universal" in home.text, home.text
        feed = await http.get(f"/{ORG}/_artifacts/feed/feed")
        assert feed.status_code == 200 and "tool" in feed.text and "Universal" in feed.text
        only = await http.get(f"/{ORG}/_artifacts/feed/feed?protocol=upack")
        assert only.status_code == 200 and "tool" in only.text
        page = await http.get(f"/{ORG}/_artifacts/feed/feed/upack/tool")
        assert page.status_code == 200, page.text
        assert ">1.2.0</a>" in page.text and ">1.0.0</a>" in page.text
        install = await http.get(f"/{ORG}/_artifacts/feed/feed/upack/tool?tab=install")
        assert "universal download --organization http://" in install.text
        assert "--feed feed --name tool --version 1.2.0" in install.text
        bad = await http.get(f"/{ORG}/_artifacts/feed/feed/upack/Tool")
        assert bad.status_code == 400
