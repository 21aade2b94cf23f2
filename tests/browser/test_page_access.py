"""Who can use the history browser (docs/page-dom.md): a phone-width screen, the keyboard alone,
and a service with users, where the page asks for a key and keeps it for the tab only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.api import Api, branch
from tests.browser.conftest import DESKTOP, PHONE, Orion, Shot, TabFactory
from tests.browser.dom import ITEMS, LOAD, wait_branch, wait_items
from tests.e2e.conftest import ServerFactory, run_cli

pytestmark = pytest.mark.e2e

TABS = 60  # more Tab presses than a header, a search box and a few items need


def boxes(page: Page) -> tuple[dict[str, float], dict[str, float]]:
    listed = page.locator("#session-list").bounding_box()
    shown = page.locator("#session-view").bounding_box()
    assert listed is not None, "#session-list is not drawn"
    assert shown is not None, "#session-view is not drawn"
    return dict(listed), dict(shown)


def test_a_phone_shows_the_list_and_the_session_in_one_column(
    orion: Orion, open_tab: TabFactory, shot: Shot
) -> None:
    chat = orion.api.create("On a phone")
    orion.api.add(chat["id"], "A question that is long enough to wrap on a narrow screen " * 3)
    orion.api.create("Another")
    expected = branch(orion.api.session(chat["id"]))

    wide = open_tab(DESKTOP)
    wide.page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(wide.page, expected)
    listed, shown = boxes(wide.page)
    # wide: the list on the left, the session on the right, side by side
    assert listed["x"] + listed["width"] <= shown["x"] + 1, (listed, shown)
    assert listed["y"] < shown["y"] + shown["height"], (listed, shown)  # rows overlap
    assert shown["y"] < listed["y"] + listed["height"], (listed, shown)
    shot(wide.page, "session-desktop")

    phone = open_tab(PHONE)
    phone.page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(phone.page, expected)
    listed, shown = boxes(phone.page)
    upper, lower = sorted((listed, shown), key=lambda box: box["y"])
    assert upper["y"] + upper["height"] <= lower["y"] + 1, (listed, shown)  # stacked
    for box in (listed, shown):
        assert box["width"] >= PHONE["width"] * 0.75, box  # each takes the screen's width
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= PHONE["width"] + 1, box
    # nothing wider than the screen: no sideways scrolling to read a message
    assert phone.page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone.page, "session-phone")
    for tab in (wide, phone):
        tab.seen.assert_local_and_quiet(orion.url)


def test_tab_reaches_the_list_and_enter_opens_a_session(
    orion: Orion, open_tab: TabFactory, shot: Shot
) -> None:
    first = orion.api.create("Reached by keyboard")
    orion.api.add(first["id"], "opened with Enter")
    tab = open_tab()
    page = tab.page
    page.goto(f"{orion.url}/")
    wait_items(page, [first["id"]])

    focused = None
    for _ in range(TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => document.activeElement?.closest('li.session-item')?.dataset.sessionId ?? null"
        )
        if focused is not None:
            break
    assert focused == first["id"], f"Tab never reached the session list in {TABS} presses"
    shot(page, "list-focused")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{orion.url}/sessions/{first['id']}", timeout=LOAD)
    expect(page.locator("#session-title")).to_have_text("Reached by keyboard")
    wait_branch(page, branch(orion.api.session(first["id"])))
    tab.seen.assert_local_and_quiet(orion.url)


def admin_key(data_dir: Path) -> str:
    made = run_cli("users", "add", "admin", "--admin", "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    found = re.search(r"key, shown this once: (orion_[A-Za-z0-9_-]+)", made.stdout)
    assert found is not None, made.stdout
    return found.group(1)


def unauthorized(error: str) -> bool:
    """Chromium logs the 401 that makes the page ask for a key: caused on purpose here."""
    return "status of 401" in error


def test_with_users_the_page_asks_for_a_key_and_keeps_it_for_the_tab(
    serve_process: ServerFactory, e2e_data_dir: Path, open_tab: TabFactory, shot: Shot
) -> None:
    key = admin_key(e2e_data_dir)
    server = serve_process().start()
    api = Api(server.url, key)
    older, newer = api.create("Older"), api.create("Newer")
    assert Api(server.url).call("GET", "/api/health")  # the page's routes need no key...
    tab = open_tab()
    page = tab.page
    page.goto(f"{server.url}/")
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible(timeout=LOAD)  # ...but the API answered 401
    expect(page.locator(ITEMS)).to_have_count(0)
    shot(page, "key-dialog")

    key_input = page.locator("#key-form #key-input")
    expect(key_input).to_have_attribute("type", "password")
    key_input.fill(key)
    page.locator("#key-form [type=submit]").click()
    wait_items(page, [newer["id"], older["id"]])
    expect(dialog).to_be_hidden()
    expect(page.locator("#forget-key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('orion.key')") == key
    shot(page, "list-with-key")

    # the key went in the header, never in a URL
    sent = [r for r in tab.seen.requests if "/api/sessions" in r.url]
    assert any(r.headers.get("authorization") == f"Bearer {key}" for r in sent), sent
    secret = key.removeprefix("orion_")
    assert [u for u in tab.seen.urls() if secret in u or key in u] == []
    assert key not in page.url

    # another tab of the same browser does not have it: sessionStorage is this tab's alone
    other = page.context.new_page()
    other.goto(f"{server.url}/")
    expect(other.locator("#key-dialog")).to_be_visible(timeout=LOAD)
    assert other.evaluate("() => sessionStorage.getItem('orion.key')") is None
    other.close()

    page.locator("#forget-key").click()
    assert page.evaluate("() => sessionStorage.getItem('orion.key')") is None
    tab.seen.assert_local_and_quiet(server.url, allow=unauthorized)
