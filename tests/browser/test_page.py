"""The history browser (SPEC §11, docs/page-dom.md) in Debian's Chromium against the real
`orion-events serve`: the list in order, a session opened, a branch switched (and the API agrees),
the slider's past, a live message within 3 s, and markup in a message shown as text."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.api import branch
from tests.browser.conftest import Orion, Shot, Tab
from tests.browser.dom import (
    ITEMS,
    LIVE,
    LOAD,
    message,
    shown_branch,
    wait_branch,
    wait_ids,
    wait_items,
)

pytestmark = pytest.mark.e2e


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_list_shows_the_seeded_sessions_most_recent_first(
    orion: Orion, tab: Tab, shot: Shot
) -> None:
    alpha, beta, gamma = (orion.api.create(t) for t in ("Alpha", "Beta", "Gamma"))
    orion.api.add(alpha["id"], "bumps Alpha to the top")  # any event bumps updated_at
    expected = [alpha["id"], gamma["id"], beta["id"]]
    listed = orion.api.sessions()
    assert [s["id"] for s in listed] == expected  # the API's order is the one we made

    tab.page.goto(f"{orion.url}/")
    wait_items(tab.page, expected)
    shot(tab.page, "list")
    for summary in listed:
        item = tab.page.locator(f'{ITEMS}[data-session-id="{summary["id"]}"]')
        expect(item.locator(".session-title")).to_have_text(summary["title"])
        expect(item.locator("a")).to_have_attribute("href", f"/sessions/{summary['id']}")
        # `.session-updated` is the <time> or holds it: docs/page-dom.md reads either way
        updated = item.locator("time.session-updated, .session-updated time")
        stamp = updated.get_attribute("datetime")
        assert stamp is not None
        # the page may write the instant its own way (JS keeps milliseconds): the same instant
        assert abs(when(stamp) - when(summary["updated_at"])) < timedelta(milliseconds=1)
    expect(tab.page.locator("#session-view")).to_be_hidden()
    tab.seen.assert_local_and_quiet(orion.url)


def test_clicking_a_session_opens_it_and_its_url_reopens_it(
    orion: Orion, tab: Tab, shot: Shot
) -> None:
    other = orion.api.create("Other")
    chat = orion.api.create("A chat")
    contents = ["What is 2+2?", "4.\n  (indented, on its own line)", "Thanks"]
    for content, role in zip(contents, ("user", "assistant", "user"), strict=True):
        orion.api.add(chat["id"], content, role=role)
    now = orion.api.session(chat["id"])

    tab.page.goto(f"{orion.url}/")
    wait_items(tab.page, [chat["id"], other["id"]])
    tab.page.locator(f'{ITEMS}[data-session-id="{chat["id"]}"] a').click()
    expect(tab.page).to_have_url(f"{orion.url}/sessions/{chat['id']}", timeout=LOAD)
    expect(tab.page.locator("#session-view")).to_be_visible()
    expect(tab.page.locator("#session-title")).to_have_text("A chat")
    wait_branch(tab.page, branch(now))
    selected = tab.page.locator(f'{ITEMS}[aria-current="true"]')
    expect(selected).to_have_attribute("data-session-id", chat["id"])
    for sent in now["messages"]:
        shown = tab.page.locator(message(tab.page, sent["id"]))
        expect(shown).to_have_attribute("data-role", sent["role"])
        # textContent, exactly: the content as text, new lines and spaces kept
        assert shown.locator(".message-text").text_content() == sent["content"]
    shot(tab.page, "session")

    tab.page.reload()  # the shared link /sessions/<id> opens the same session by itself
    wait_branch(tab.page, branch(now))
    expect(tab.page.locator("#session-title")).to_have_text("A chat")
    tab.seen.assert_local_and_quiet(orion.url)


def test_switching_a_branch_sends_it_and_the_api_agrees(orion: Orion, tab: Tab, shot: Shot) -> None:
    chat = orion.api.create("Branches")
    question = orion.api.add(chat["id"], "Tell me a joke")["id"]
    first = orion.api.add(chat["id"], "Joke one", "assistant", parent_id=question)["id"]
    follow = orion.api.add(chat["id"], "Another?", parent_id=first)["id"]
    second = orion.api.add(chat["id"], "Joke two (regenerated)", "assistant", question)["id"]
    assert branch(orion.api.session(chat["id"])) == [question, second]

    page = tab.page
    page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(page, [question, second])
    expect(page.locator(f"{message(page, question)} .sibling-switch")).to_have_count(0)
    switch = page.locator(f"{message(page, second)} .sibling-switch")
    expect(switch.locator(".sibling-position")).to_have_text("2/2")
    expect(switch.locator("button.sibling-next")).to_be_disabled()  # the last sibling
    shot(page, "branch-2-of-2")

    switch.locator("button.sibling-prev").click()
    # PUT …/current {first}: the leaf is reached by the most recent child, so `follow` shows too
    wait_branch(page, [question, first, follow])
    switch = page.locator(f"{message(page, first)} .sibling-switch")
    expect(switch.locator(".sibling-position")).to_have_text("1/2")
    expect(switch.locator("button.sibling-prev")).to_be_disabled()
    now = orion.api.session(chat["id"])
    assert now["current_id"] == follow
    assert branch(now) == shown_branch(page)
    shot(page, "branch-1-of-2")

    switch.locator("button.sibling-next").click()
    wait_branch(page, [question, second])
    now = orion.api.session(chat["id"])
    assert now["current_id"] == second
    assert branch(now) == shown_branch(page)
    assert any(r.method == "PUT" and r.url.endswith("/current") for r in tab.seen.requests)
    tab.seen.assert_local_and_quiet(orion.url)


def test_the_slider_shows_an_earlier_version(orion: Orion, tab: Tab, shot: Shot) -> None:
    chat = orion.api.create("Time travel")
    for n in range(4):
        orion.api.add(chat["id"], f"message {n}", role=("user", "assistant")[n % 2])
    now = orion.api.session(chat["id"])
    latest = now["version"]
    earlier = latest - 2
    then = orion.api.session(chat["id"], version=earlier)
    assert len(branch(then)) < len(branch(now))  # the past the slider must show differs from now
    events = orion.api.call("GET", f"/api/sessions/{chat['id']}/events")

    page = tab.page
    page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(page, branch(now))
    slider = page.locator("#version-slider")
    expect(slider).to_have_attribute("max", str(latest))
    expect(slider).to_have_value(str(latest))
    expect(page.locator("#version-label")).to_have_text(f"version {latest} of {latest}")
    wait_ids(page, "#timeline li.event", "data-seq", [str(e["seq"]) for e in events])
    expect(page.locator("#past-banner")).to_be_hidden()

    slider.focus()
    slider.press("ArrowLeft")  # the keyboard, as docs/page-dom.md promises for the slider
    slider.press("ArrowLeft")
    expect(slider).to_have_value(str(earlier))
    expect(page.locator("#session-view")).to_have_attribute("data-version", str(earlier))
    wait_branch(page, branch(then))
    expect(page.locator("#version-label")).to_have_text(f"version {earlier} of {latest}")
    expect(page.locator("#past-banner")).to_be_visible()
    current = page.locator('#timeline li.event[aria-current="true"]')
    expect(current).to_have_attribute("data-seq", str(earlier))
    shot(page, "past")

    page.locator("#back-to-now").click()
    wait_branch(page, branch(now))
    expect(page.locator("#session-view[data-version]")).to_have_count(0)  # only while N < M
    expect(page.locator("#past-banner")).to_be_hidden()
    tab.seen.assert_local_and_quiet(orion.url)


def test_a_message_posted_through_the_api_appears_within_3_s(
    orion: Orion, tab: Tab, shot: Shot
) -> None:
    chat = orion.api.create("Live")
    orion.api.add(chat["id"], "before")
    page = tab.page
    page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(page, branch(orion.api.session(chat["id"])))
    expect(page.locator("#live-status")).to_have_text("live", timeout=LOAD)

    posted = orion.api.add(chat["id"], "after, sent while the page was open", role="assistant")
    arrived = page.locator(f"{message(page, posted['id'])} .message-text")
    expect(arrived).to_have_text(posted["content"], timeout=LIVE)
    version = orion.api.session(chat["id"])["version"]
    expect(page.locator("#version-slider")).to_have_attribute("max", str(version), timeout=LIVE)
    shot(page, "live")
    tab.seen.assert_local_and_quiet(orion.url)


XSS = "<img src=x onerror=\"window.__xss = 1; document.title = 'pwned'\">"
SCRIPT = "<script>window.__xss = 2</script><b>bold?</b>"


def test_markup_in_a_message_is_shown_as_text_and_runs_nothing(
    orion: Orion, tab: Tab, shot: Shot
) -> None:
    chat = orion.api.create("<i onmouseover=alert(1)>title</i>")
    loaded = orion.api.add(chat["id"], XSS)
    page = tab.page
    page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(page, [loaded["id"]])
    expect(page.locator("#live-status")).to_have_text("live", timeout=LOAD)
    # the same through the live path, which may draw messages with other code
    streamed = orion.api.add(chat["id"], SCRIPT, role="assistant")
    expect(page.locator(message(page, streamed["id"]))).to_be_visible(timeout=LIVE)

    for sent in (loaded, streamed):
        text = page.locator(f"{message(page, sent['id'])} .message-text")
        assert text.text_content() == sent["content"]
    expect(page.locator("#session-title")).to_have_text(chat["title"])
    expect(page.locator(f"{ITEMS} .session-title").first).to_have_text(chat["title"])
    for tag in ("img", "script", "b", "i"):
        expect(page.locator(f"#message-list {tag}, #session-list {tag}")).to_have_count(0)
    assert page.evaluate("() => window.__xss") is None
    assert page.title() != "pwned"
    # the <img src=x> was never made, so it never asked for ./x either
    assert not [u for u in tab.seen.urls() if u.rstrip("/").endswith("/x")]
    shot(page, "markup-as-text")
    tab.seen.assert_local_and_quiet(orion.url)


def test_the_sibling_buttons_are_disabled_while_the_past_is_shown(orion: Orion, tab: Tab) -> None:
    chat = orion.api.create("Past branches")
    question = orion.api.add(chat["id"], "Q")["id"]
    orion.api.add(chat["id"], "A1", "assistant", parent_id=question)
    second = orion.api.add(chat["id"], "A2", "assistant", parent_id=question)["id"]
    # a rename: one more event, so the version before it has the same branches as now
    orion.api.call("PUT", f"/api/sessions/{chat['id']}", {"title": "Past branches, renamed"})
    page = tab.page
    page.goto(f"{orion.url}/sessions/{chat['id']}")
    wait_branch(page, [question, second])
    prev = page.locator(f"{message(page, second)} button.sibling-prev")
    expect(prev).to_be_enabled()

    page.locator("#version-slider").focus()
    page.locator("#version-slider").press("ArrowLeft")
    expect(page.locator("#past-banner")).to_be_visible()
    wait_branch(page, [question, second])  # the past, drawn again
    expect(prev).to_be_disabled()  # a switch would change now, not the past on screen
    expect(page.locator(f"{message(page, second)} button.sibling-next")).to_be_disabled()
    page.locator("#back-to-now").click()
    expect(page.locator("#past-banner")).to_be_hidden()
    expect(prev).to_be_enabled()
    tab.seen.assert_local_and_quiet(orion.url)
