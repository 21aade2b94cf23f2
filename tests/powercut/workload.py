"""What the power-cut loop writes, what it was told was written, and the check against both.

Writers post messages to a few long-lived sessions (every other one with an Idempotency-Key),
a creator makes new sessions and writes into each at once, and a settings writer patches
`max_tokens` to a new value each time, all until the server goes away. Every 2xx is recorded;
after the restart, everything recorded must be served exactly once and in order.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import orjson

from tests.e2e.test_process import assert_in_ack_order

TIMEOUT = aiohttp.ClientTimeout(total=20)


@attrs.frozen
class Ack:
    session_id: str
    content: str
    message_id: str
    sent: float  # monotonic: when the request was started
    acked: float  # and when its 201 was read
    key: str | None = None  # its Idempotency-Key, if it had one


class ServerGone(Exception):
    """The server stopped answering: the end of a round, not a failure."""


@attrs.define
class Workload:
    sessions: list[str]  # the long-lived ones, each written by `writers` writers
    writers: int = 2
    acks: list[Ack] = attrs.field(factory=list)
    sent: dict[str, set[str]] = attrs.field(factory=dict)
    created: dict[str, int] = attrs.field(factory=dict)  # acknowledged new session -> its round
    titles: dict[str, str] = attrs.field(factory=dict)
    acked: dict[str, list[Ack]] = attrs.field(factory=dict)  # the acks by session
    settings: list[int] = attrs.field(factory=list)  # max_tokens values acknowledged, in order
    settings_sent: set[int] = attrs.field(factory=set)
    purged: set[str] = attrs.field(factory=set)
    rounds: int = 0
    bad: list[str] = attrs.field(factory=list)  # answers that were neither 2xx nor a gone server

    async def run(self, base: str, until_acks: int) -> asyncio.Task[None]:
        """Start every writer against `base`; the returned task ends when the server is gone.

        Returns once `until_acks` more writes have been acknowledged, so the caller can kill
        the server while requests are in flight.
        """
        self.rounds += 1
        target = len(self.acks) + until_acks
        task = asyncio.create_task(self._all(base))
        deadline = time.monotonic() + 30
        while len(self.acks) < target and not task.done():
            assert time.monotonic() < deadline, f"too slow: {len(self.acks)} acks, {self.bad}"
            await asyncio.sleep(0.005)
        assert not task.done(), f"the writers stopped early: {self.bad}"
        return task

    async def _all(self, base: str) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(base, connector=connector, timeout=TIMEOUT) as http:
            jobs = [self._writer(http, s, w) for s in self.live() for w in range(self.writers)]
            jobs += [self._creator(http), self._settings_writer(http)]
            results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if not isinstance(result, ServerGone):
                raise AssertionError(f"a writer failed: {result!r}; {self.bad}")

    def live(self) -> list[str]:
        return [s for s in self.sessions if s not in self.purged]

    async def _post(
        self, http: aiohttp.ClientSession, method: str, url: str, body: Any, key: str | None
    ) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            async with http.request(method, url, json=body, headers=headers) as answer:
                status, raw = answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServerGone() from exc
        if not 200 <= status < 300:
            self.bad.append(f"{method} {url}: {status} {raw[:200]!r}")
            raise ServerGone()
        return orjson.loads(raw)

    async def _message(
        self, http: aiohttp.ClientSession, session_id: str, content: str, key: str | None
    ) -> None:
        self.sent.setdefault(session_id, set()).add(content)
        started = time.monotonic()
        url = f"/api/sessions/{session_id}/messages"
        message = await self._post(http, "POST", url, {"role": "user", "content": content}, key)
        assert message["content"] == content
        ack = Ack(session_id, content, message["id"], started, time.monotonic(), key)
        self.acks.append(ack)
        self.acked.setdefault(session_id, []).append(ack)

    async def _writer(self, http: aiohttp.ClientSession, session_id: str, writer: int) -> None:
        for n in itertools.count():
            content = f"r{self.rounds}-w{writer}-n{n}"
            await self._message(http, session_id, content, content if n % 2 else None)

    async def _creator(self, http: aiohttp.ClientSession) -> None:
        """New sessions up to the cut, at a pace: a few a round, so hundreds of rounds do not
        grow the data dir (and every restart) without end."""
        for n in itertools.count():
            title = f"new r{self.rounds}-{n}"
            created = await self._post(http, "POST", "/api/sessions", {"title": title}, None)
            self.created[created["id"]] = self.rounds
            self.titles[created["id"]] = title
            await self._message(http, created["id"], f"first of {title}", None)
            await asyncio.sleep(0.05 * 2 ** min(n, 6))

    async def _settings_writer(self, http: aiohttp.ClientSession) -> None:
        while True:
            value = len(self.settings_sent) + 1  # each value once, over every round
            self.settings_sent.add(value)
            await self._post(http, "PATCH", "/api/settings", {"max_tokens": value}, None)
            self.settings.append(value)
            await asyncio.sleep(0.002)  # a handful a round, not a flood

    # -- the check ------------------------------------------------------------------------------

    async def check(self, base: str, data_dir: Path, *, everything: bool) -> dict[str, int]:
        """Everything acknowledged is served once and in order; the figures of what was seen.

        The long-lived sessions and those made in the last two rounds are read every time;
        with `everything`, every session ever made (a long loop reads them all at its end).
        """
        recent = [s for s, made in self.created.items() if everything or made >= self.rounds - 1]
        wanted = [s for s in [*self.sessions, *recent] if s not in self.purged]
        async with aiohttp.ClientSession(base, timeout=TIMEOUT) as http:
            sessions = {}
            for session_id in wanted:
                async with http.get(f"/api/sessions/{session_id}") as answer:
                    assert answer.status == 200, f"acknowledged session {session_id} is gone"
                    sessions[session_id] = orjson.loads(await answer.read())
            replays = await self._retry_keys(http, sessions)
        for session_id in recent:
            if session_id not in self.purged:
                assert sessions[session_id]["title"] == self.titles[session_id]
        stored = self._check_messages(sessions)
        self._check_settings(data_dir)
        return {"sessions": len(sessions), "stored": stored, "replays": replays}

    def _check_messages(self, sessions: dict[str, dict[str, Any]]) -> int:
        stored = 0
        for session_id, session in sessions.items():
            messages = session["messages"]
            contents = [m["content"] for m in messages]
            stored += len(contents)
            assert len(contents) == len(set(contents)), f"{session_id}: a message stored twice"
            assert set(contents) <= self.sent.get(session_id, set()), "a message nobody sent"
            position = {m["id"]: i for i, m in enumerate(messages)}
            acked = self.acked.get(session_id, [])
            lost = [a.content for a in acked if a.message_id not in position]
            assert not lost, f"{session_id}: {len(lost)} acknowledged messages lost: {lost[:5]}"
            assert_in_ack_order(acked, position)
        return stored

    def _check_settings(self, data_dir: Path) -> None:
        """Read from the settings log itself: the API shows only the last value."""
        lines = [
            orjson.loads(line)
            for line in (data_dir / "settings.jsonl").read_bytes().split(b"\n")
            if line
        ]
        values = [line["data"]["changes"]["max_tokens"] for line in lines]
        assert len(values) == len(set(values)), "a settings change is in the log twice"
        assert set(values) <= self.settings_sent, "a settings change nobody sent"
        index = {v: i for i, v in enumerate(values)}
        missing = [v for v in self.settings if v not in index]
        assert not missing, f"acknowledged settings changes lost: {missing[:5]}"
        assert [index[v] for v in self.settings] == sorted(index[v] for v in self.settings)

    async def _retry_keys(
        self, http: aiohttp.ClientSession, sessions: dict[str, dict[str, Any]]
    ) -> int:
        """A retry of an acknowledged keyed post gets the original message and appends nothing."""
        keyed = [a for a in self.acks if a.key and a.session_id in sessions][-8:]
        for ack in keyed:
            url = f"/api/sessions/{ack.session_id}/messages"
            body = {"role": "user", "content": ack.content}
            headers = {"Idempotency-Key": ack.key or ""}
            async with http.post(url, json=body, headers=headers) as answer:
                assert answer.status in (200, 201), await answer.text()
                assert orjson.loads(await answer.read())["id"] == ack.message_id
            async with http.get(f"/api/sessions/{ack.session_id}") as answer:
                version = orjson.loads(await answer.read())["version"]
            assert version == sessions[ack.session_id]["version"], "a retry appended again"
        return len(keyed)
