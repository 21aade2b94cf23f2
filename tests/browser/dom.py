"""Reading the history browser's DOM (docs/page-dom.md) from a test."""

from __future__ import annotations

import contextlib

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# ms a first load may take in a cold headless Chromium on a busy CI machine. A wait, not a claim
# about speed: only the live-update test times anything (3 s, the issue's own bound).
LOAD = 15_000
LIVE = 3_000  # "a message posted through the API appears within 3 s"

MESSAGES = "#message-list li.message"
ITEMS = "#session-list li.session-item"

_IDS = """([selector, attr]) =>
    [...document.querySelectorAll(selector)].map(e => e.getAttribute(attr))"""


def ids(page: Page, selector: str, attr: str) -> list[str | None]:
    """`attr` of every element matching `selector`, in document order."""
    return list(page.evaluate(_IDS, [selector, attr]))


def wait_ids(
    page: Page, selector: str, attr: str, expected: list[str], timeout: float = LOAD
) -> None:
    """Wait until the elements' `attr`s are exactly `expected`, then assert it (so a failure
    shows what the page had, not just a timeout)."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            f"([selector, attr, want]) => JSON.stringify(({_IDS})([selector, attr])) "
            "=== JSON.stringify(want)",
            arg=[selector, attr, expected],
            timeout=timeout,
        )
    assert ids(page, selector, attr) == expected


def shown_branch(page: Page) -> list[str | None]:
    return ids(page, MESSAGES, "data-message-id")


def wait_branch(page: Page, expected: list[str], timeout: float = LOAD) -> None:
    wait_ids(page, MESSAGES, "data-message-id", expected, timeout)


def wait_items(page: Page, expected: list[str], timeout: float = LOAD) -> None:
    wait_ids(page, ITEMS, "data-session-id", expected, timeout)


def message(page: Page, message_id: str) -> str:
    return f'#message-list li.message[data-message-id="{message_id}"]'
