"""The page's frame in a real browser (SPEC §11): /docs renders the API's paths, every view's
files carry a strict Content-Security-Policy, and no view makes a request off 127.0.0.1."""

from __future__ import annotations

import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Orion, Seen, Shot, Tab

pytestmark = pytest.mark.e2e

LOAD = 15_000  # ms: a first load in a cold headless Chromium on a busy CI machine


def own_files(seen: Seen, base_url: str) -> list[tuple[str, dict[str, str]]]:
    """(path, headers) of every answer of ours that is not the API: the views and their files."""
    out = []
    for response in seen.responses:
        parts = urllib.parse.urlsplit(response.url)
        if response.url.startswith(base_url) and not parts.path.startswith("/api/"):
            out.append((parts.path, response.headers))
    return out


def test_docs_renders_the_api_paths(orion: Orion, tab: Tab, shot: Shot) -> None:
    tab.page.goto(f"{orion.url}/docs")
    paths = tab.page.locator(".opblock .opblock-summary-path")
    expect(paths.first).to_be_visible(timeout=LOAD)
    shown = {text.strip().replace("\u200b", "") for text in paths.all_inner_texts()}
    # Swagger UI drew the service's own document, not a stock or empty one.
    for path in ("/api/sessions", "/api/sessions/{session_id}", "/api/health"):
        assert path in shown, sorted(shown)
    assert tab.page.locator(".opblock-get").count() > 0
    assert tab.page.locator(".opblock-post").count() > 0
    shot(tab.page, "docs")
    # the document came from this service, and Swagger UI asked no validator
    assert f"{orion.url}/api/openapi.json" in tab.seen.urls()
    tab.seen.assert_local_and_quiet(orion.url)


def test_every_view_and_file_carries_the_csp(orion: Orion, tab: Tab) -> None:
    session = orion.api.create("csp")
    for path in ("/", f"/sessions/{session['id']}", "/docs"):
        tab.page.goto(f"{orion.url}{path}", wait_until="load")
    tab.page.locator(".opblock").first.wait_for(timeout=LOAD)
    files = own_files(tab.seen, orion.url)
    loaded = {path for path, _ in files}
    assert {"/", f"/sessions/{session['id']}", "/docs", "/docs/swagger-ui-bundle.js"} <= loaded
    for path, headers in files:
        policy = headers.get("content-security-policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ") if d}
        assert directives.get("default-src") == ["'none'"], (path, policy)
        assert directives.get("script-src") == ["'self'"], (path, policy)
        assert directives.get("style-src") == ["'self'"], (path, policy)
        assert directives.get("connect-src") == ["'self'"], (path, policy)
        assert "unsafe-inline" not in policy, (path, policy)
        assert "unsafe-eval" not in policy, (path, policy)
        assert headers.get("x-content-type-options") == "nosniff", path
    tab.seen.assert_local_and_quiet(orion.url)


def test_the_history_page_has_no_inline_script_style_or_handler(orion: Orion, tab: Tab) -> None:
    """docs/page-dom.md: no <script> body, no style="…", no on…= attribute, in the DOM as built."""
    session = orion.api.create("inline")
    orion.api.add(session["id"], "hello")
    tab.page.goto(f"{orion.url}/sessions/{session['id']}")
    expect(tab.page.locator("#message-list li.message")).to_have_count(1, timeout=LOAD)
    inline = tab.page.evaluate(
        """() => {
            const all = [...document.querySelectorAll('*')];
            return {
                scripts: [...document.scripts].filter(s => !s.src).length,
                styled: all.filter(e => e.hasAttribute('style')).map(e => e.tagName),
                handlers: all.flatMap(e => [...e.attributes]
                    .filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
                modules: [...document.scripts].filter(s => s.type === 'module')
                    .map(s => new URL(s.src).pathname),
            };
        }"""
    )
    assert inline == {"scripts": 0, "styled": [], "handlers": [], "modules": ["/static/app.js"]}
    tab.seen.assert_local_and_quiet(orion.url)


def test_no_view_sends_a_request_off_127_0_0_1(orion: Orion, tab: Tab, shot: Shot) -> None:
    first = orion.api.create("first")
    orion.api.add(first["id"], "a question")
    orion.api.add(first["id"], "an answer", role="assistant")
    tab.page.goto(f"{orion.url}/")
    expect(tab.page.locator("li.session-item")).to_have_count(1, timeout=LOAD)
    shot(tab.page, "list")
    tab.page.goto(f"{orion.url}/sessions/{first['id']}")
    expect(tab.page.locator("#message-list li.message")).to_have_count(2, timeout=LOAD)
    shot(tab.page, "session")
    tab.page.goto(f"{orion.url}/docs")
    tab.page.locator(".opblock").first.wait_for(timeout=LOAD)
    shot(tab.page, "docs")
    urls = tab.seen.urls()
    # the views' own files came through the recorder, so an empty "foreign" list means something
    assert any(urllib.parse.urlsplit(u).path == "/static/app.js" for u in urls), urls
    assert any(urllib.parse.urlsplit(u).path == "/api/openapi.json" for u in urls), urls
    tab.seen.assert_local_and_quiet(orion.url)
