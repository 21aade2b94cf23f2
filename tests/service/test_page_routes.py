"""The page's routes (SPEC §11) on the real app, without a browser: what they serve, with which
headers, and that they serve nothing else (tests/browser drives the page itself)."""

from __future__ import annotations

from typing import Any

import pytest

from service.page import CONTENT_SECURITY_POLICY, WEB
from tests.conftest import ClientFactory
from tests.service.expect import expect_error


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "text/html"),
        ("/sessions/00000000-0000-4000-8000-000000000000", "text/html"),
        ("/docs", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/style.css", "text/css"),
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
    ],
)
async def test_each_file_is_served_with_its_type_and_the_policy(
    client: Any, path: str, kind: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == kind
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = await client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


async def test_the_browser_at_a_session_is_the_same_page(client: Any) -> None:
    page = await (await client.get("/")).read()
    assert page == (WEB / "index.html").read_bytes()
    other = await client.get("/sessions/00000000-0000-4000-8000-000000000001")
    assert await other.read() == page


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/..%2fpage.py",
        "/static/%2e%2e%2fpage.py",
        "/static/",
        "/docs/swagger-editor.js",  # in the package, but not what /docs uses
        "/docs/..%2f__init__.py",
        "/sessions/not-an-id",
        "/sessions/00000000-0000-4000-8000-000000000000/x",
    ],
)
async def test_nothing_else_is_served(client: Any, path: str) -> None:
    await expect_error(client, await client.get(path), 404)


async def test_the_page_is_read_only(client: Any) -> None:
    for path in ("/", "/docs", "/static/app.js"):
        response = await client.post(path, data=b"x")
        await expect_error(client, response, 405)


async def test_with_a_token_the_page_loads_and_the_api_still_asks_for_it(
    make_client: ClientFactory,
) -> None:
    """ORION_API_TOKEN guards the API, not the page: the page asks for the token (its key
    dialog) and sends it as the Bearer header, as it sends a user's key."""
    client = await make_client(api_token="s3cret-token")
    for path in ("/", "/docs", "/static/app.js"):
        assert (await client.get(path)).status == 200
    await expect_error(client, await client.get("/api/sessions"), 401)
    response = await client.get("/api/sessions", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status == 200
