"""The real process: restarts, kill -9 and SIGTERM under load, the data-dir lock, `python -m`.

SPEC §3 (serve stops gracefully on SIGTERM and exits 0; verify exits 0 on intact logs), §5 (one
writer per data dir; a 2xx write is on disk) and §6 (nothing acknowledged is lost, even after
kill -9, and per-session order holds).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import attrs
import orjson
import pytest

from tests.e2e.conftest import Server, ServerFactory, run_cli

pytestmark = pytest.mark.e2e

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=15)


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    async with http.request(method, url, **kwargs) as answer:
        raw = await answer.read()
        return answer.status, (orjson.loads(raw) if raw else None)


async def ok(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    status, payload = await call(http, method, url, body)
    assert 200 <= status < 300, (method, url, status, payload)
    return payload


async def served_state(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """Everything a client can read: the list, each session in full, the settings."""
    listed = await ok(http, "GET", f"{base}/api/sessions")
    sessions = {s["id"]: await ok(http, "GET", f"{base}/api/sessions/{s['id']}") for s in listed}
    settings = await ok(http, "GET", f"{base}/api/settings")
    health = await ok(http, "GET", f"{base}/api/health")
    return {
        "list": listed,
        "sessions": sessions,
        "settings": settings,
        "live": health["sessions"],
    }


# -- load: concurrent writers that record what was acknowledged ---------------------------------


@attrs.frozen
class Ack:
    session_id: str
    content: str
    message_id: str
    sent: float  # monotonic time the request was started
    acked: float  # monotonic time its 201 was read


@attrs.define
class Load:
    """Writers per session, each posting one message after another until the server goes away."""

    session_ids: list[str]
    writers_per_session: int
    acks: list[Ack] = attrs.field(factory=list)
    sent: dict[str, set[str]] = attrs.field(factory=dict)
    failures: list[str] = attrs.field(factory=list)
    rounds: int = 0
    base: str = ""

    async def _writer(self, http: aiohttp.ClientSession, session_id: str, writer: int) -> None:
        url = f"{self.base}/api/sessions/{session_id}/messages"
        sent = self.sent.setdefault(session_id, set())
        for n in itertools.count():
            content = f"r{self.rounds}-w{writer}-n{n}"
            sent.add(content)
            started = time.monotonic()
            try:
                async with http.post(url, json={"role": "user", "content": content}) as answer:
                    status = answer.status
                    payload = await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.failures.append(type(exc).__name__)
                return
            if status != 201:
                self.failures.append(f"{status}: {payload[:200]!r}")
                return
            message = orjson.loads(payload)
            assert message["content"] == content
            self.acks.append(Ack(session_id, content, message["id"], started, time.monotonic()))

    async def run_until(
        self, base: str, stop: Callable[[], None], *, acks: int, min_seconds: float
    ) -> None:
        """Write to `base` until `acks` more answers and `min_seconds`, call stop(), drain."""
        self.base = base
        self.rounds += 1
        self.failures.clear()
        acks += len(self.acks)
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=CLIENT_TIMEOUT) as http:
            tasks = [
                asyncio.create_task(self._writer(http, sid, w))
                for sid in self.session_ids
                for w in range(self.writers_per_session)
            ]
            try:
                started = time.monotonic()
                while len(self.acks) < acks or time.monotonic() - started < min_seconds:
                    assert not any(t.done() for t in tasks), f"a writer stopped: {self.failures}"
                    await asyncio.sleep(0.01)
                stop()  # no await before this: requests are in flight when the signal lands
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        # Every writer ended because the server went away, not because of a bad answer.
        assert len(self.failures) == len(tasks)
        assert not [f for f in self.failures if f[0].isdigit()], self.failures

    def check_against(
        self, sessions: dict[str, dict[str, Any]], *, every_session_acked: bool = True
    ) -> None:
        """Every ack is there exactly once, in acknowledgement order, and nothing else is."""
        by_session: dict[str, list[Ack]] = {}
        for ack in self.acks:
            by_session.setdefault(ack.session_id, []).append(ack)
        for session_id in self.session_ids:
            messages = sessions[session_id]["messages"]
            contents = [m["content"] for m in messages]
            assert len(contents) == len(set(contents)), "a message is stored twice"
            assert set(contents) <= self.sent[session_id], "a message nobody sent"
            assert sessions[session_id]["version"] == 1 + len(messages)
            position = {m["id"]: i for i, m in enumerate(messages)}
            acked = by_session.get(session_id, [])
            assert acked or not every_session_acked, f"no write to {session_id} was acknowledged"
            missing = [a.content for a in acked if a.message_id not in position]
            assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
            for a in acked:
                assert messages[position[a.message_id]]["content"] == a.content
            assert_in_ack_order(acked, position)


class Acked(Protocol):
    message_id: str
    sent: float
    acked: float


def assert_in_ack_order(acked: Sequence[Acked], position: dict[str, int]) -> None:
    """A message acknowledged before another was sent comes first in the log: walk the sends in
    time order, keeping the latest position of everything acknowledged before each."""
    by_ack = sorted(acked, key=lambda a: a.acked)
    done, latest, latest_ack = 0, -1, None
    for b in sorted(acked, key=lambda a: a.sent):
        while done < len(by_ack) and by_ack[done].acked < b.sent:
            if position[by_ack[done].message_id] > latest:
                latest_ack = by_ack[done]
                latest = position[latest_ack.message_id]
            done += 1
        assert latest < position[b.message_id], (latest_ack, b)


async def create_sessions(base: str, n: int) -> list[str]:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        created = [
            await ok(http, "POST", f"{base}/api/sessions", {"title": f"load {i}"}) for i in range(n)
        ]
    return [c["id"] for c in created]


async def fetch_sessions(base: str, session_ids: list[str]) -> dict[str, dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        return {sid: await ok(http, "GET", f"{base}/api/sessions/{sid}") for sid in session_ids}


def assert_verify_ok(data_dir: Path, events: int) -> None:
    result = run_cli("verify", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["damaged"] == []
    assert summary["events"] == events


async def serve_under_load(
    serve_process: ServerFactory, sessions: int, writers_per_session: int
) -> tuple[Server, Load]:
    """A started server with `sessions` new sessions, and a load ready to write to each."""
    server = await serve_process().astart()
    session_ids = await create_sessions(server.url, sessions)
    return server, Load(session_ids, writers_per_session=writers_per_session)


async def check_acks_then_stop(server: Server, load: Load, data_dir: Path) -> None:
    """The restarted server holds every ack once and in order; it stops cleanly; verify passes."""
    sessions = await fetch_sessions(server.url, load.session_ids)
    load.check_against(sessions)
    assert await server.exit_code_after(signal.SIGTERM) == 0
    assert_verify_ok(data_dir, sum(s["version"] for s in sessions.values()))


# -- tests --------------------------------------------------------------------------------------


async def test_clean_restart_serves_the_same_state(serve_process: ServerFactory) -> None:
    server = await serve_process().astart()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        base = server.url
        untitled = await ok(http, "POST", f"{base}/api/sessions")
        for role, content in [("system", "be brief"), ("user", "Why  event\tsourcing?")]:
            await ok(
                http,
                "POST",
                f"{base}/api/sessions/{untitled['id']}/messages",
                {"role": role, "content": content},
            )
        await ok(
            http,
            "POST",
            f"{base}/api/sessions/{untitled['id']}/messages",
            {"role": "assistant", "content": "Audit.", "agent": "chat", "model": "qwen2.5:1.5b"},
        )
        titled = await ok(
            http, "POST", f"{base}/api/sessions", {"title": "Plans", "metadata": {"a": "1"}}
        )
        await ok(
            http,
            "PUT",
            f"{base}/api/sessions/{titled['id']}",
            {"title": "Plans v2", "metadata": {"b": "2"}},
        )
        cleared = await ok(http, "POST", f"{base}/api/sessions", {"title": "cleared"})
        for i in range(3):
            await ok(
                http,
                "POST",
                f"{base}/api/sessions/{cleared['id']}/messages",
                {"role": "tool", "content": f"out {i}"},
            )
        await ok(http, "DELETE", f"{base}/api/sessions/{cleared['id']}/messages")
        deleted = await ok(http, "POST", f"{base}/api/sessions", {"title": "doomed"})
        await ok(http, "DELETE", f"{base}/api/sessions/{deleted['id']}")
        await ok(http, "PATCH", f"{base}/api/settings", {"theme": "light", "max_tokens": 99})
        await ok(http, "POST", f"{base}/api/settings/reset")
        await ok(http, "PATCH", f"{base}/api/settings", {"temperature": 1.5, "language": "fr"})
        before = await served_state(http, base)

    assert before["sessions"][untitled["id"]]["title"] == "Why event sourcing?"
    assert before["sessions"][titled["id"]]["title"] == "Plans v2"
    assert before["sessions"][cleared["id"]]["messages"] == []
    assert deleted["id"] not in before["sessions"]
    assert before["settings"]["theme"] == "dark"
    assert before["settings"]["temperature"] == 1.5

    assert await server.exit_code_after(signal.SIGTERM) == 0
    await server.astart()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        after = await served_state(http, server.url)
        status, error = await call(http, "GET", f"{server.url}/api/sessions/{deleted['id']}")
    assert after == before
    assert status == 404
    assert error["error"]["code"] == "not_found"
    assert await server.exit_code_after(signal.SIGTERM) == 0


async def test_kill_9_under_concurrent_writers_loses_no_acknowledged_message(
    serve_process: ServerFactory, e2e_data_dir: Path
) -> None:
    server, load = await serve_under_load(serve_process, 4, writers_per_session=3)

    for _ in range(2):  # the second round writes on top of what the first crash left
        stop = functools.partial(server.send, signal.SIGKILL)
        await load.run_until(server.url, stop, acks=300, min_seconds=0.5)
        assert await server.exit_code() == -signal.SIGKILL
        await server.astart()

    await check_acks_then_stop(server, load, e2e_data_dir)


async def test_kill_9_brings_a_tree_and_its_current_branch_back_byte_for_byte(
    serve_process: ServerFactory,
) -> None:
    """Regenerate, edit and resend, switch, prune: after kill -9 (no snapshot, no clean stop)
    every answer that shows the tree is the same bytes."""
    server = await serve_process().astart()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        base = server.url
        sid = (await ok(http, "POST", f"{base}/api/sessions"))["id"]
        url = f"{base}/api/sessions/{sid}"

        async def say(content: str, **more: Any) -> str:
            body = {"role": "user", "content": content, **more}
            return (await ok(http, "POST", f"{url}/messages", body))["id"]  # type: ignore[no-any-return]

        q1 = await say("q1")
        a1 = await say("a1")
        await say("b1", parent_id=q1)  # regenerated
        q1e = await say("q1 edited", parent_id=None)  # edited and resent
        await say("a1e")
        await ok(http, "PUT", f"{url}/current", {"message_id": a1})
        await say("follow-up")
        await ok(http, "DELETE", f"{url}/messages/{q1e}?subtree=true")
        reads = ["", "/messages?branch=all", f"/messages/{a1}", "/export"]
        before = []
        for read in reads:
            async with http.get(url + read) as answer:
                before.append(await answer.read())
    server.send(signal.SIGKILL)
    assert await server.exit_code() == -signal.SIGKILL
    await server.astart()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        after = []
        for read in reads:  # the restarted process may listen on another port
            async with http.get(f"{server.url}/api/sessions/{sid}{read}") as answer:
                after.append(await answer.read())
    assert after == before
    assert orjson.loads(before[0])["current_id"] is not None
    assert await server.exit_code_after(signal.SIGTERM) == 0


async def test_second_serve_on_the_same_data_dir_refuses_while_the_first_serves(
    serve_process: ServerFactory, e2e_data_dir: Path
) -> None:
    first = await serve_process().astart()
    session_id = (await create_sessions(first.url, 1))[0]

    second = serve_process()
    second.spawn()
    code = await second.exit_code()

    assert code != 0
    stderr = second.stderr()
    assert str(e2e_data_dir) in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert first.running()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        assert (await ok(http, "GET", f"{first.url}/api/health"))["status"] == "ok"
        await ok(
            http,
            "POST",
            f"{first.url}/api/sessions/{session_id}/messages",
            {"role": "user", "content": "still serving"},
        )
        view = await ok(http, "GET", f"{first.url}/api/sessions/{session_id}")
    assert [m["content"] for m in view["messages"]] == ["still serving"]
    assert await first.exit_code_after(signal.SIGTERM) == 0


async def test_python_dash_m_service_serves_like_the_console_script(
    serve_process: ServerFactory, e2e_data_dir: Path
) -> None:
    server = serve_process(launcher="module")
    await server.astart()
    assert server.proc is not None
    assert server.proc.args[1:3] == ["-m", "service"]
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        health = await ok(http, "GET", f"{server.url}/api/health")
        created = await ok(http, "POST", f"{server.url}/api/sessions", {"title": "via -m"})
        fetched = await ok(http, "GET", f"{server.url}/api/sessions/{created['id']}")
    assert health["status"] == "ok"
    assert fetched == created
    assert await server.exit_code_after(signal.SIGTERM) == 0
    assert (e2e_data_dir / "sessions" / f"{created['id']}.jsonl").is_file()
    result = run_cli("verify", "--data-dir", str(e2e_data_dir), launcher="module")
    assert result.returncode == 0, result.stdout + result.stderr


async def test_sigterm_with_writers_in_flight_exits_0_and_keeps_every_ack(
    serve_process: ServerFactory, e2e_data_dir: Path
) -> None:
    server, load = await serve_under_load(serve_process, 3, writers_per_session=4)

    stop = functools.partial(server.send, signal.SIGTERM)
    await load.run_until(server.url, stop, acks=200, min_seconds=0.3)
    assert await server.exit_code() == 0

    await server.astart()
    await check_acks_then_stop(server, load, e2e_data_dir)
