"""The rest of what the page shows (SPEC §11, docs/page-dom.md), in Chromium against the real
`orion-events serve`: search, the settings form, health naming a damaged session, and an export
that downloads the API's own document."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.api import Api
from tests.browser.conftest import Orion, Shot, Tab
from tests.browser.dom import ITEMS, LOAD, wait_items
from tests.e2e.conftest import ServerFactory

pytestmark = pytest.mark.e2e


def test_search_lists_the_hits_and_an_empty_query_lists_every_session(
    orion: Orion, tab: Tab, shot: Shot
) -> None:
    lisbon = orion.api.create("Trip")
    orion.api.add(lisbon["id"], "tram 28 through Alfama")
    billing = orion.api.create("Work")
    orion.api.add(billing["id"], "split the invoices module")
    tab.page.goto(f"{orion.url}/")
    wait_items(tab.page, [billing["id"], lisbon["id"]])

    tab.page.fill("#search-input", "alfama")
    tab.page.press("#search-input", "Enter")
    wait_items(tab.page, [lisbon["id"]])
    shot(tab.page, "search")
    tab.page.fill("#search-input", "")
    tab.page.press("#search-input", "Enter")
    wait_items(tab.page, [billing["id"], lisbon["id"]])
    tab.seen.assert_local_and_quiet(orion.url)


def test_the_settings_form_saves_what_changed_and_shows_a_refusal(
    orion: Orion, tab: Tab, shot: Shot
) -> None:
    before = orion.api.call("GET", "/api/settings")
    tab.page.goto(f"{orion.url}/")
    form = tab.page.locator("#settings-form")
    expect(form.locator('[name="temperature"]')).to_have_value(str(before["temperature"]))
    form.locator('[name="temperature"]').fill("1.25")
    form.locator('[name="theme"]').select_option("light")
    tab.page.click("#settings-save")
    expect(tab.page.locator("#settings-status")).to_have_text("saved", timeout=LOAD)
    after = orion.api.call("GET", "/api/settings")
    assert (after["temperature"], after["theme"]) == (1.25, "light")
    assert {k: v for k, v in after.items() if k not in ("temperature", "theme")} == {
        k: v for k, v in before.items() if k not in ("temperature", "theme")
    }
    shot(tab.page, "settings")

    form.locator('[name="temperature"]').fill("9")  # over the API's 2.0
    tab.page.click("#settings-save")
    expect(tab.page.locator("#settings-status")).to_contain_text("temperature", timeout=LOAD)
    assert orion.api.call("GET", "/api/settings")["temperature"] == 1.25
    # the 422 is the browser's own console line for a failed fetch, caused here on purpose
    tab.seen.assert_local_and_quiet(orion.url, allow=lambda e: "422" in e)


def test_health_names_a_damaged_session(
    serve_process: ServerFactory, e2e_data_dir: Path, tab: Tab, shot: Shot
) -> None:
    server = serve_process().start()
    api = Api(server.url)
    damaged = api.create("Soon damaged")
    for n in range(3):
        api.add(damaged["id"], f"message {n}")
    healthy = api.create("Healthy")
    server.stop()
    log = e2e_data_dir / "sessions" / f"{damaged['id']}.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"message 0", b"message X")  # its checksum no longer holds
    log.write_bytes(b"".join(lines))
    server = serve_process().start()

    tab.page.goto(f"{server.url}/")
    expect(tab.page.locator("#health-status")).to_have_text("degraded", timeout=LOAD)
    named = tab.page.locator("#damaged-sessions li")
    expect(named).to_have_count(1)
    expect(named).to_contain_text(damaged["id"])
    wait_items(tab.page, [healthy["id"], damaged["id"]])
    shot(tab.page, "health-degraded")
    tab.seen.assert_local_and_quiet(server.url)


@pytest.mark.parametrize("kind", ["json", "markdown"])
def test_an_export_downloads_the_apis_document(
    orion: Orion, tab: Tab, kind: str, tmp_path: Path
) -> None:
    chat = orion.api.create("Exported")
    orion.api.add(chat["id"], "keep this")
    tab.page.goto(f"{orion.url}/sessions/{chat['id']}")
    expect(tab.page.locator("#session-title")).to_have_text("Exported", timeout=LOAD)
    with tab.page.expect_download(timeout=LOAD) as started:
        tab.page.click(f"#export-{kind}")
    saved = tmp_path / f"export.{kind}"
    started.value.save_as(saved)
    url = f"{orion.url}/api/sessions/{chat['id']}/export?format={kind}"
    with urllib.request.urlopen(url) as answer:
        expected = answer.read()
    if kind == "json":
        assert json.loads(saved.read_bytes()) == json.loads(expected)
    else:
        assert saved.read_bytes() == expected
    tab.seen.assert_local_and_quiet(orion.url)


def test_more_appends_the_next_page_and_back_and_forward_move_between_sessions(
    orion: Orion, tab: Tab
) -> None:
    made = [orion.api.create(f"Session {n}")["id"] for n in range(120)]  # over a page
    newest_first = made[::-1]
    tab.page.goto(f"{orion.url}/")
    expect(tab.page.locator("#more-sessions")).to_be_visible(timeout=LOAD)
    shown = tab.page.locator(ITEMS).count()  # the page's own page size
    assert 0 < shown < len(made)
    wait_items(tab.page, newest_first[:shown])
    while tab.page.locator("#more-sessions").is_visible():
        before = tab.page.locator(ITEMS).count()
        tab.page.click("#more-sessions")
        expect(tab.page.locator(ITEMS)).not_to_have_count(before, timeout=LOAD)
    wait_items(tab.page, newest_first)  # the next page appended, none twice
    expect(tab.page.locator("#more-sessions")).to_be_hidden()

    first, second = newest_first[0], newest_first[1]
    for session_id in (first, second):
        tab.page.locator(f'{ITEMS}[data-session-id="{session_id}"] a').click()
        expect(tab.page).to_have_url(f"{orion.url}/sessions/{session_id}", timeout=LOAD)
    titles = {s["id"]: s["title"] for s in orion.api.sessions()}
    tab.page.go_back()
    expect(tab.page).to_have_url(f"{orion.url}/sessions/{first}", timeout=LOAD)
    expect(tab.page.locator("#session-title")).to_have_text(titles[first])
    tab.page.go_forward()
    expect(tab.page.locator("#session-title")).to_have_text(titles[second], timeout=LOAD)
    tab.seen.assert_local_and_quiet(orion.url)
