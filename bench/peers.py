"""Peers in one run: append message k to a session of k - 1 messages, durably, for several k.

The peers, each in its own temporary directory under bench/results/tmp (the same file system as
the project):

- json file per chat: the original design. The session is one JSON document {id, title, ...,
  messages: [...]} kept in memory; each message rewrites the whole file the durable way (write a
  temporary file, fsync it, rename it over the old one, fsync the directory). Serialised with
  orjson, which flatters it.
- sqlite: stdlib sqlite3, journal_mode=WAL, synchronous=FULL, a messages table keyed by
  (session_id, seq); one INSERT (its seq from the primary key) and one COMMIT per message.
- eventsourcing: the `eventsourcing` library on its SQLite store. An aggregate `Chat` with an
  `add_message` event; each command gets the aggregate from the repository, adds the message and
  saves it. By default the repository replays every stored event of the aggregate on each get:
  measured as the library behaves by default, then with its snapshotting (every 100 events) and
  with its aggregate cache (fast-forwarded, not deep-copied) as variants.
- this project: Store(FileLog(dir)), the session pre-built by bench.datagen, add_message timed.

Latency: one client appends messages k, k+1, ... to one session, each awaited before the next;
the lengths are measured by turns (one append at each k in a round), so drift of the disk hits
every k alike. Throughput: 16 clients, each appending to its own session of k - 1 messages for a
fixed time, split into rounds in which every peer takes its turn (the order reversed every other
round) and pooled, so peers whose ratio matters ran side by side. The blocking peers run one
thread per client, this project 16 asyncio tasks (a time-bound run also lengthens the sessions:
by up to a few thousand messages at k=10 for the fastest peers). SQLite is measured both ways
it can take 16 writers: 16 threads sharing one connection (a lock serialises them, as SQLite
would anyway) and 16 threads with a connection each (SQLite's own write lock and busy handler
serialise them); the better of the two is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.metadata
import inspect
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.datagen import make_data_dir
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store

PROJECT = Path(__file__).resolve().parent.parent
TMP_ROOT = PROJECT / "bench" / "results" / "tmp"
ROLES = ("user", "assistant")
CONTENT = ("lorem ipsum dolor sit amet " * 12)[:300]  # as long as bench.datagen's
CLIENTS = 16
THIS = "this project"
SQLITE = "sqlite"
SQLITE_PER_THREAD = "sqlite, connection per client"


@dataclass(frozen=True)
class Plan:
    ks: tuple[int, ...]
    appends: int  # sequential appends timed per k
    latency_budget: float  # seconds per peer for the latency rounds, at least MIN_ROUNDS
    seconds: float  # of throughput per peer and k, split over `rounds` turns
    rounds: int


FULL = Plan(ks=(10, 1000, 10000), appends=200, latency_budget=12.0, seconds=3.0, rounds=5)
QUICK = Plan(ks=(10, 1000), appends=50, latency_budget=1.0, seconds=0.4, rounds=2)
MIN_ROUNDS = 10


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the peers -----------------------------------------------------------------------------------


class Peer:
    """One way of keeping chat sessions: pre-build sessions, append one message durably, close.

    `append` returns only once the message is durable. Blocking peers do their work inline (a
    sequential client calls them straight, no thread hop) and take concurrent clients on threads;
    this project is asyncio and takes them as tasks.
    """

    name = ""
    measure_latency = True

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    async def prepare(self, sessions: int, messages: int) -> list[str]:
        """Create `sessions` sessions of `messages` messages each; their ids."""
        raise NotImplementedError

    async def append(self, session: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def throughput(self, sessions: Sequence[str], seconds: float) -> tuple[int, float]:
        """Durable appends acknowledged by one client per session in about `seconds`."""
        deadline = time.perf_counter() + seconds
        acked = 0

        async def client(session: str) -> None:
            nonlocal acked
            while time.perf_counter() < deadline:
                await self.append(session)
                acked += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(s) for s in sessions))
        return acked, time.perf_counter() - started

    def info(self) -> str:
        return ""


class BlockingPeer(Peer):
    def prepare_sync(self, sessions: int, messages: int) -> list[str]:
        raise NotImplementedError

    def append_sync(self, session: str) -> None:
        raise NotImplementedError

    def close_sync(self) -> None:
        pass

    async def prepare(self, sessions: int, messages: int) -> list[str]:
        return self.prepare_sync(sessions, messages)

    async def append(self, session: str) -> None:
        self.append_sync(session)

    async def close(self) -> None:
        self.close_sync()

    async def throughput(self, sessions: Sequence[str], seconds: float) -> tuple[int, float]:
        deadline = time.perf_counter() + seconds
        counts = [0] * len(sessions)
        errors: list[BaseException] = []

        def client(i: int, session: str) -> None:
            try:
                while time.perf_counter() < deadline:
                    self.append_sync(session)
                    counts[i] += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=client, args=(i, s), name=f"{self.name}-{i}")
            for i, s in enumerate(sessions)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise errors[0]
        return sum(counts), elapsed


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _message(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "role": ROLES[n % 2],
        "content": CONTENT,
        "timestamp": utc_now(),
        "agent": None,
        "model": "qwen2.5:1.5b",
    }


class JsonFilePeer(BlockingPeer):
    """The original design: the whole session rewritten as one JSON file per message."""

    name = "json file per chat"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.docs: dict[str, dict[str, Any]] = {}

    def prepare_sync(self, sessions: int, messages: int) -> list[str]:
        ids = []
        for _ in range(sessions):
            sid = str(uuid.uuid4())
            now = utc_now()
            self.docs[sid] = {
                "id": sid,
                "title": "New Chat",
                "created_at": now,
                "updated_at": now,
                "messages": [_message(n) for n in range(messages)],
            }
            self._rewrite(sid)
            ids.append(sid)
        return ids

    def append_sync(self, session: str) -> None:
        doc = self.docs[session]
        message = _message(len(doc["messages"]))
        doc["messages"].append(message)
        doc["updated_at"] = message["timestamp"]
        self._rewrite(session)

    def _rewrite(self, session: str) -> None:
        data = orjson.dumps(self.docs[session])
        path = self.dir / f"{session}.json"
        tmp = self.dir / f"{session}.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(self.dir)

    def info(self) -> str:
        return "orjson; tmp file + fsync + rename + dir fsync per message"


class SqlitePeer(BlockingPeer):
    """stdlib sqlite3, WAL, synchronous=FULL; one INSERT + COMMIT per message.

    `per_thread`: each client thread has its own connection (SQLite's write lock serialises
    them); otherwise every client shares one connection behind a lock.
    """

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS messages (session_id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, created_at TEXT NOT NULL,"
        " PRIMARY KEY (session_id, seq))"
    )
    INSERT = (
        "INSERT INTO messages (session_id, seq, id, role, content, created_at)"
        " SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5 FROM messages WHERE session_id = ?1"
    )

    def __init__(self, directory: Path, *, per_thread: bool = False) -> None:
        super().__init__(directory)
        self.per_thread = per_thread
        self.name = SQLITE_PER_THREAD if per_thread else SQLITE
        self.measure_latency = not per_thread  # the same as the shared connection, one client
        self.path = directory / "chat.db"
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._shared = self._connect()
        self._shared.execute(self.SCHEMA)
        self.pragmas = (
            self._shared.execute("PRAGMA journal_mode").fetchone()[0],
            self._shared.execute("PRAGMA synchronous").fetchone()[0],
        )
        if self.pragmas != ("wal", 2):
            raise RuntimeError(f"sqlite is not in WAL with synchronous=FULL: {self.pragmas}")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        self._connections.append(conn)
        return conn

    def prepare_sync(self, sessions: int, messages: int) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(sessions)]
        conn = self._shared
        conn.execute("BEGIN")
        for sid in ids:
            conn.executemany(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (sid, n + 1, str(uuid.uuid4()), ROLES[n % 2], CONTENT, utc_now())
                    for n in range(messages)
                ),
            )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ids

    def append_sync(self, session: str) -> None:
        params = (session, str(uuid.uuid4()), "user", CONTENT, utc_now())
        if self.per_thread:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                with self._lock:
                    conn = self._local.conn = self._connect()
            self._insert(conn, params)
        else:
            with self._lock:
                self._insert(self._shared, params)

    @classmethod
    def _insert(cls, conn: sqlite3.Connection, params: tuple[str, ...]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(cls.INSERT, params)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close_sync(self) -> None:
        for conn in self._connections:
            conn.close()

    def info(self) -> str:
        how = "a connection per client thread" if self.per_thread else "one shared connection"
        return f"journal_mode={self.pragmas[0]}, synchronous={self.pragmas[1]} (FULL); {how}"


@functools.cache
def _eventsourcing() -> tuple[type[Any], type[Any], type[Any]]:
    """Chat, Chats and SnapshottingChats, defined on first use (eventsourcing is optional)."""
    try:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate, event
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "the eventsourcing peer needs the bench extra: pip install -e '.[bench]'"
        ) from exc

    class Chat(Aggregate):  # type: ignore[misc]
        @event("Started")
        def __init__(self, title: str) -> None:
            self.title = title
            self.messages: list[dict[str, Any]] = []

        @event("MessageAdded")
        def add_message(self, message_id: str, role: str, content: str) -> None:
            self.messages.append({"id": message_id, "role": role, "content": content})

    class Chats(Application):  # type: ignore[misc]
        def add_message(self, chat_id: uuid.UUID, role: str, content: str) -> None:
            chat = self.repository.get(chat_id)
            chat.add_message(str(uuid.uuid4()), role, content)
            self.save(chat)

    class SnapshottingChats(Chats):
        snapshotting_intervals = {Chat: 100}  # noqa: RUF012 (the library's class variable)

    return Chat, Chats, SnapshottingChats


class EventsourcingPeer(BlockingPeer):
    """The `eventsourcing` library's Application and Aggregate on its SQLite store.

    mode "default": as the library comes (each command replays all the aggregate's events);
    "snapshots": snapshotting_intervals = {Chat: 100}; "cache": AGGREGATE_CACHE_MAXSIZE with
    DEEPCOPY_FROM_AGGREGATE_CACHE=n (the cached aggregate is fast-forwarded, not copied).
    """

    def __init__(self, directory: Path, mode: str = "default") -> None:
        super().__init__(directory)
        self.mode = mode
        self.name = "eventsourcing" if mode == "default" else f"eventsourcing + {mode}"
        self.env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "events.db"),
        }
        if mode == "cache":
            self.env |= {"AGGREGATE_CACHE_MAXSIZE": "1000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
        self.chat, chats, snapshotting = _eventsourcing()
        self.app_class = snapshotting if mode == "snapshots" else chats
        self.plain_class = chats
        self.app: Any = None
        self.ids: dict[str, uuid.UUID] = {}
        self.pragmas: tuple[str, int] | None = None

    def prepare_sync(self, sessions: int, messages: int) -> list[str]:
        # Saved in bulk by a plain application (a snapshotting one would snapshot every 100th
        # event of the batch); the variant under test then opens the same database.
        plain = self.plain_class(env=self.env)
        for _ in range(sessions):
            chat = self.chat("New Chat")
            for n in range(messages):
                chat.add_message(str(uuid.uuid4()), ROLES[n % 2], CONTENT)
            plain.save(chat)
            self.ids[str(chat.id)] = chat.id
        plain.close()
        self.app = self.app_class(env=self.env)
        for chat_id in self.ids.values():
            if self.mode == "snapshots":
                self.app.take_snapshot(chat_id)
            elif self.mode == "cache":
                self.app.repository.get(chat_id)  # warm, as this project's views are
        with self.app.recorder.datastore.get_connection(commit=False) as conn:
            cursor = conn._sqlite_conn.cursor()
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            self.pragmas = (mode, cursor.execute("PRAGMA synchronous").fetchone()[0])
        return list(self.ids)

    def append_sync(self, session: str) -> None:
        self.app.add_message(self.ids[session], "user", CONTENT)

    def close_sync(self) -> None:
        if self.app is not None:
            self.app.close()

    def info(self) -> str:
        version = importlib.metadata.version("eventsourcing")
        how = {
            "default": "each command replays all the chat's events (library default)",
            "snapshots": "snapshot every 100 events; a get loads the last one + the rest",
            "cache": "aggregate cache, fast-forwarded, no deep copy",
        }[self.mode]
        mode, sync = self.pragmas or ("?", "?")
        return f"eventsourcing {version}; journal_mode={mode}, synchronous={sync}; {how}"


class ThisProject(Peer):
    """Store(FileLog(dir)): sessions pre-built by bench.datagen, add_message timed."""

    name = THIS

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.store: Store | None = None
        self.sent = 0

    async def prepare(self, sessions: int, messages: int) -> list[str]:
        # One session_created event, then `messages` message_added events.
        make_data_dir(self.dir, sessions, messages + 1, content_bytes=len(CONTENT))
        self.store = Store(FileLog(self.dir))
        await self.store.open()
        # Let start-up work the store may do in the background (indexing for search) finish
        # before appends are timed: the steady state is what is measured.
        settled = self.store.search("settle")
        if inspect.isawaitable(settled):
            await settled
        return sorted(p.stem for p in (self.dir / "sessions").glob("*.jsonl"))

    async def append(self, session: str) -> None:
        assert self.store is not None
        self.sent += 1
        await self.store.add_message(
            session, role=ROLES[self.sent % 2], content=CONTENT, model="qwen2.5:1.5b"
        )

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    def info(self) -> str:
        return "Store(FileLog), group commit; 16 clients = 16 asyncio tasks"


PEERS: tuple[tuple[str, Callable[[Path], Peer]], ...] = (
    ("json file per chat", JsonFilePeer),
    (SQLITE, SqlitePeer),
    (SQLITE_PER_THREAD, lambda d: SqlitePeer(d, per_thread=True)),
    ("eventsourcing", EventsourcingPeer),
    ("eventsourcing + snapshots", lambda d: EventsourcingPeer(d, "snapshots")),
    ("eventsourcing + cache", lambda d: EventsourcingPeer(d, "cache")),
    (THIS, ThisProject),
)


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Result:
    peer: str
    info: str = ""
    latencies: dict[int, list[float]] = field(default_factory=dict)  # k -> seconds per append
    acked: dict[int, int] = field(default_factory=dict)  # k -> appends by the 16 clients
    elapsed: dict[int, float] = field(default_factory=dict)  # k -> seconds they took

    def median(self, k: int) -> float:
        return statistics.median(self.latencies[k])

    def p99(self, k: int) -> float:
        values = sorted(self.latencies[k])
        return values[max(0, math.ceil(0.99 * len(values)) - 1)]

    def rate(self, k: int) -> float:
        return self.acked[k] / self.elapsed[k]


@dataclass
class Subject:
    """One peer at one k: its directory, the peer and its sessions (the first one for latency,
    the other 16 for throughput)."""

    peer: Peer
    dir: Path
    sessions: list[str]


async def _run(plan: Plan, say: Callable[[str], None]) -> list[Result]:
    TMP_ROOT.mkdir(parents=True, exist_ok=True)
    if os.stat(TMP_ROOT).st_dev != os.stat(PROJECT).st_dev:
        raise RuntimeError(f"{TMP_ROOT} is not on the project's file system")
    results = {name: Result(name) for name, _ in PEERS}
    subjects: dict[tuple[str, int], Subject] = {}
    try:
        for name, make in PEERS:
            for k in plan.ks:
                started = time.perf_counter()
                directory = Path(tempfile.mkdtemp(prefix=f"peer-k{k}-", dir=TMP_ROOT))
                peer = make(directory)
                subjects[name, k] = Subject(peer, directory, [])
                subjects[name, k].sessions = await peer.prepare(1 + CLIENTS, k - 1)
                say(
                    f"{name}: {1 + CLIENTS} sessions of {k - 1} messages ready in "
                    f"{time.perf_counter() - started:.1f} s"
                )
            results[name].info = subjects[name, plan.ks[0]].peer.info()
        os.sync()  # every measurement starts from a clean page cache
        for name, _ in PEERS:
            if subjects[name, plan.ks[0]].peer.measure_latency:
                await _latency_rounds({k: subjects[name, k] for k in plan.ks}, plan, results[name])
                medians = ", ".join(
                    f"k={k} {results[name].median(k) * 1e6:,.0f} µs" for k in plan.ks
                )
                say(f"{name}: latency {medians}")
        for k in plan.ks:
            await _throughput_rounds(k, subjects, plan, results)
            rates = ", ".join(f"{n} {results[n].rate(k):,.0f}/s" for n, _ in PEERS)
            say(f"k={k}: throughput {rates}")
    finally:
        for subject in subjects.values():
            await subject.peer.close()
            shutil.rmtree(subject.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            TMP_ROOT.rmdir()  # unless another bench is using it
    return list(results.values())


async def _latency_rounds(subjects: dict[int, Subject], plan: Plan, result: Result) -> None:
    """One append at each k per round, the order reversed every other round, so drift of the
    disk hits every k alike; at least MIN_ROUNDS rounds, then until `appends` or the budget."""
    for k in subjects:
        result.latencies[k] = []
    deadline = time.perf_counter() + plan.latency_budget
    ks = list(subjects)
    for n in range(plan.appends):
        if n >= MIN_ROUNDS and time.perf_counter() > deadline:
            break
        for k in ks if n % 2 == 0 else reversed(ks):
            subject = subjects[k]
            started = time.perf_counter()
            await subject.peer.append(subject.sessions[0])
            result.latencies[k].append(time.perf_counter() - started)


async def _throughput_rounds(
    k: int, subjects: dict[tuple[str, int], Subject], plan: Plan, results: dict[str, Result]
) -> None:
    """Every peer at this k, by turns (the order reversed every other round), so the ratios
    compare peers measured side by side; pooled over the rounds."""
    names = [name for name, _ in PEERS]
    for n in range(plan.rounds):
        for name in names if n % 2 == 0 else reversed(names):
            subject = subjects[name, k]
            acked, elapsed = await subject.peer.throughput(
                subject.sessions[1:], plan.seconds / plan.rounds
            )
            results[name].acked[k] = results[name].acked.get(k, 0) + acked
            results[name].elapsed[k] = results[name].elapsed.get(k, 0.0) + elapsed


# -- rows ----------------------------------------------------------------------------------------


def _row(
    name: str,
    real: float,
    unit: str,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    target: float | None = None,
    op: str = "",
    note: str = "",
) -> dict[str, Any]:
    met = None
    if target is not None and ratio is not None:
        met = ratio >= target if op == ">=" else ratio <= target
    return {
        "part": "peers",
        "name": name,
        "real": real,
        "bare": baseline,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "op": op,
        "met": met,
        "note": note,
    }


def rows_of(results: Sequence[Result], plan: Plan) -> list[dict[str, Any]]:
    by_name = {r.peer: r for r in results}
    lo, hi = plan.ks[0], plan.ks[-1]
    rows = []
    this = by_name[THIS]
    rows.append(
        _row(
            f"append latency k={hi}/k={lo} ({THIS})",
            this.median(hi) * 1e6,
            "µs",
            baseline=this.median(lo) * 1e6,
            ratio=this.median(hi) / this.median(lo),
            target=1.2,
            op="<=",
            note=f"median at k={hi} vs k={lo}",
        )
    )
    for k in plan.ks:
        best = max(by_name[SQLITE].rate(k), by_name[SQLITE_PER_THREAD].rate(k))
        rows.append(
            _row(
                f"durable appends/s vs SQLite WAL FULL, {CLIENTS} clients, k={k} ({THIS})",
                this.rate(k),
                "appends/s",
                baseline=best,
                ratio=this.rate(k) / best,
                target=2.0,
                op=">=",
                note="baseline: the better of sqlite's two ways to take 16 clients",
            )
        )
    for result in results:
        if result.latencies:
            for k in plan.ks:
                rows.append(
                    _row(
                        f"append latency k={k} ({result.peer})",
                        result.median(k) * 1e6,
                        "µs",
                        note=f"median; p99 {result.p99(k) * 1e6:,.0f} µs; "
                        f"n={len(result.latencies[k])}",
                    )
                )
            if result.peer != THIS:
                rows.append(
                    _row(
                        f"append latency k={hi}/k={lo} ({result.peer})",
                        result.median(hi) * 1e6,
                        "µs",
                        baseline=result.median(lo) * 1e6,
                        ratio=result.median(hi) / result.median(lo),
                        note="growth of the median",
                    )
                )
        for k in plan.ks:
            rows.append(
                _row(
                    f"durable appends/s, {CLIENTS} clients, k={k} ({result.peer})",
                    result.rate(k),
                    "appends/s",
                )
            )
    return rows


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every peer at every k; the rows of the results table (targets first)."""
    rows, _ = _run_with_results(quick, log)
    return rows


def _run_with_results(
    quick: bool, log: Callable[[str], None] | None
) -> tuple[list[dict[str, Any]], list[Result]]:
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    plan = QUICK if quick else FULL
    results = asyncio.run(_run(plan, say))
    return rows_of(results, plan), results


# -- printing ------------------------------------------------------------------------------------


def print_tables(rows: Sequence[dict[str, Any]], results: Sequence[Result], plan: Plan) -> None:
    lo, hi = plan.ks[0], plan.ks[-1]
    print(
        f"append message k to a session of k-1 messages, durable; latency: one client, median "
        f"(p99) µs; throughput: {CLIENTS} clients on {CLIENTS} sessions, appends/s"
    )
    head = f"{'peer':<31}"
    for k in plan.ks:
        head += f" {'k=' + str(k) + ' µs (p99)':>22}"
    head += f" {'growth ' + str(hi) + '/' + str(lo):>12}"
    for k in plan.ks:
        head += f" {'k=' + str(k) + ' /s':>11}"
    print(head)
    for r in results:
        line = f"{r.peer:<31}"
        for k in plan.ks:
            cell = f"{r.median(k) * 1e6:,.0f} ({r.p99(k) * 1e6:,.0f})" if r.latencies else "-"
            line += f" {cell:>22}"
        growth = f"{r.median(hi) / r.median(lo):.2f}x" if r.latencies else "-"
        line += f" {growth:>12}"
        for k in plan.ks:
            line += f" {r.rate(k):>11,.0f}"
        print(line)
    print()
    for r in results:
        print(f"  {r.peer}: {r.info}")
    print()
    print(f"{'target':<74} {'real':>10} {'baseline':>10} {'ratio':>7} {'target':>8}  met")
    for row in rows:
        if row["target"] is None:
            continue
        target = f"{'≤' if row['op'] == '<=' else '≥'} {row['target']}"
        print(
            f"{row['name']:<74} {row['real']:>10,.0f} {row['bare']:>10,.0f} "
            f"{row['ratio']:>7.2f} {target:>8}  {'yes' if row['met'] else 'NO'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k = 10 and 1,000, fewer appends")
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    rows, results = _run_with_results(args.quick, None)
    print_tables(rows, results, QUICK if args.quick else FULL)
    print(
        f"\n({time.perf_counter() - started:.0f} s; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs: other work on the machine "
        "slows the CPU-bound peers, this project first, more than the fsync-bound ones)"
    )


if __name__ == "__main__":
    main()
