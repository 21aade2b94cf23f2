"""The HTTP API through urllib, for seeding what the page shows and for checking what it did.

Plain urllib on purpose: the tests compare the page against the API's own answers, so the
client that asks must be as simple as possible and share nothing with the page.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 15.0
UNSET: Any = object()  # parent_id absent (append to the current branch), unlike None (a root)


class Api:
    """One service's API, called with `key` (SPEC §9) when there is one."""

    def __init__(self, base_url: str, key: str | None = None) -> None:
        self.base_url = base_url
        self.key = key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.key is not None:
            request.add_header("Authorization", f"Bearer {self.key}")
        # urlopen raises HTTPError on any 4xx/5xx, so a seeding call that fails fails the test.
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            raw = answer.read()
        return json.loads(raw) if raw else None

    def create(self, title: str | None = None) -> dict[str, Any]:
        return dict(self.call("POST", "/api/sessions", {} if title is None else {"title": title}))

    def add(
        self, session_id: str, content: str, role: str = "user", parent_id: Any = UNSET
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"role": role, "content": content}
        if parent_id is not UNSET:
            body["parent_id"] = parent_id
        return dict(self.call("POST", f"/api/sessions/{session_id}/messages", body))

    def session(self, session_id: str, version: int | None = None) -> dict[str, Any]:
        query = "" if version is None else "?" + urllib.parse.urlencode({"version": version})
        return dict(self.call("GET", f"/api/sessions/{session_id}{query}"))

    def sessions(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/sessions"))


def branch(session: dict[str, Any]) -> list[str]:
    """The ids of a session body's current branch, root first."""
    return [m["id"] for m in session["messages"]]
