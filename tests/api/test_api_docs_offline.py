"""The browsable API docs render with the network cut off: every asset is served by the app itself."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.staticfiles import finders
from django.test import Client


def test_api_docs_load_every_asset_from_our_own_static_files(db: Any) -> None:
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    # The page builds its Swagger UI from JS that names the bundle, preset and CSS: check those too.
    assets += re.findall(r"""["']([^"']+\.(?:js|css|png))["']""", html)
    assert assets, "the docs page names no assets at all"
    for url in assets:
        assert not re.match(r"^(https?:)?//", url), f"{url} would be fetched from outside the app"
    static = [url for url in assets if url.startswith("/static/")]
    assert any("swagger-ui-bundle" in url for url in static)
    for url in static:
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among our static files"
