"""Ids in paths (SPEC §4, §7): any `{id}` that is not a well-formed id is 404, and is refused at
the edge: the store is never asked about it and the process touches no file while answering.

Every route with an id in its path (read from the router's own table, so a new route is covered
the day it is added) is sent malformed ids in each id position, over a raw socket so that no
client-side URL normalisation hides a `..` or a `%2f`. File system access is watched with
Python's audit hooks (PEP 578: every open, listdir, scandir, mkdir, rename, remove … raises an
event), and the store by wrapping its public methods.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.store.store import Store
from service.routes import ROUTES
from tests.service.expect import JSON_HEADERS, check_error_shape, health_ok, raw_request

# Routes with an id in the path; the last route (any path) has none.
ID_ROUTES = [(m, p) for m, p, _ in ROUTES if "{session_id}" in p or "{message_id}" in p]
BODIES = {  # a body each route accepts, so that only the id is wrong
    ("PUT", "/api/sessions/{session_id}"): {"title": "x"},
    ("POST", "/api/sessions/{session_id}/messages"): {"role": "user", "content": "x"},
    ("PATCH", "/api/sessions/{session_id}/messages/{message_id}"): {"content": "y"},
    ("POST", "/api/sessions/{session_id}/fork"): {},
    ("PUT", "/api/sessions/{session_id}/current"): {
        "message_id": "00000000-0000-4000-8000-000000000000"
    },
}

# As sent on the wire (percent-encoded), one path segment each; "{id}" is a real id of that kind.
MALFORMED = {
    "one-short": "{id-1}",
    "short-hex": "1234abcd",
    "one-long": "{id}0",
    "junk-appended": "{id}.jsonl",
    "nul-appended": "{id}%00",
    "newline-appended": "{id}%0a",
    "space-appended": "{id}%20",
    "no-hyphens": "{id-}",
    "braces": "%7B{id}%7D",
    "urn": "urn:uuid:{id}",
    "traversal": "..%2f..%2fetc%2fpasswd",
    "traversal-to-a-log": "..%2fsettings",
    "traversal-encoded-dots": "%2e%2e%2f%2e%2e%2fsettings.jsonl",
    "traversal-backslash": "..%5c..%5csettings",
    "overlong-utf8-dots": "%C0%AE%C0%AE%2f%C0%AE%C0%AE",
    "fullwidth-digit": "%EF%BC%91{id+1}",  # U+FF11, a digit to str.isdigit()
    "arabic-indic-digit": "%D9%A3{id+1}",  # U+0663
    "cyrillic-a": "%D0%B0{id+1}",  # U+0430, which looks like a
    "latin-e-acute": "%C3%A9{id+1}",
    "not-utf8": "%ff{id+1}",
    "huge": "a" * 4000,
}


def fill(template: str, real: str) -> str:
    return (
        template.replace("{id-1}", real[:-1])
        .replace("{id-}", real.replace("-", ""))
        .replace("{id+1}", real[1:])
        .replace("{id}", real)
    )


def cases() -> Iterator[Any]:
    for method, path in ID_ROUTES:
        for position in ("session_id", "message_id"):
            if f"{{{position}}}" in path:
                for name, template in MALFORMED.items():
                    yield pytest.param(
                        method, path, position, template, id=f"{method} {path} {position} {name}"
                    )


# -- watching the file system and the store ------------------------------------------------

FS_EVENTS = ("open", "os.", "shutil.", "glob.", "tempfile.", "fcntl.")
# An audit hook cannot be removed once added: one is added per process, and reports to whoever
# is watching at the time.
_watchers: list[list[tuple[str, tuple[Any, ...]]]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watchers and event.startswith(FS_EVENTS):
        for seen in _watchers:
            seen.append((event, args))


@contextmanager
def file_system_events() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The file-system audit events this process raises inside the block."""
    if not getattr(sys, "_orion_audit_hook", False):
        sys.addaudithook(_audit)
        sys._orion_audit_hook = True  # type: ignore[attr-defined]
    seen: list[tuple[str, tuple[Any, ...]]] = []
    _watchers.append(seen)
    try:
        yield seen
    finally:
        _watchers.remove(seen)


@pytest.fixture
def store_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every public Store method called from now on."""
    calls: list[str] = []
    for name, method in vars(Store).items():
        if name.startswith("_") or not inspect.isfunction(method):
            continue

        def spy(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(Store, name, spy)
    return calls


@pytest.fixture
async def ids(client: Any) -> dict[str, str]:
    """A real session with a message: the ids that the malformed ones are made from."""
    created = await client.post("/api/sessions", json={"title": "real"})
    sid = (await created.json())["id"]
    added = await client.post(
        f"/api/sessions/{sid}/messages", json={"role": "user", "content": "x"}
    )
    return {"session_id": sid, "message_id": (await added.json())["id"]}


def listing(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("method", "path", "position", "template"), list(cases()))
async def test_a_malformed_path_id_is_404_before_the_store_or_any_file(
    client, ids, store_calls, tmp_path, method, path, position, template
) -> None:
    target = path.format(**{**ids, position: fill(template, ids[position])})
    body = BODIES.get((method, path))
    raw = b"" if body is None else orjson.dumps(body)
    headers = JSON_HEADERS if body is not None else {}
    before = listing(tmp_path)
    store_calls.clear()

    with file_system_events() as touched:
        answer = await raw_request(client, method, target, headers=headers, body=raw)

    assert answer.status == 404, answer
    assert answer.headers["content-type"].startswith("application/json")
    assert check_error_shape(orjson.loads(answer.body))["code"] == "not_found"
    assert store_calls == [], "the store was asked about a malformed id"
    assert touched == [], "the file system was touched while answering"
    assert listing(tmp_path) == before
    await health_ok(client)


async def test_the_watch_sees_a_read_of_a_log(make_client, data_dir, store_calls) -> None:
    """The audit events do show the store reading a log: a session whose messages were let go
    (cache_mb=0) is read back from its file."""
    client = await make_client(cache_mb=0)
    created = await client.post("/api/sessions", json={"title": "cold"})
    sid = (await created.json())["id"]
    await client.post(f"/api/sessions/{sid}/messages", json={"role": "user", "content": "x"})
    other = await client.post("/api/sessions", json={"title": "warm"})
    warm = (await other.json())["id"]
    await client.post(f"/api/sessions/{warm}/messages", json={"role": "user", "content": "y"})
    with file_system_events() as touched:
        answer = await raw_request(client, "GET", f"/api/sessions/{sid}/export")
    assert answer.status == 200
    assert any(sid in str(args) for _, args in touched), touched
    assert "loaded" in store_calls


def test_every_route_with_an_id_is_covered() -> None:
    """A route with a path variable of another name would escape the cases above: none has."""
    with_variables = [(m, p) for m, p, _ in ROUTES if "{" in p and p != "/{path:.*}"]
    users = [(m, p) for m, p in with_variables if p.startswith(("/api/users/", "/api/keys/"))]
    # the page's files by name: tests/browser and the users matrix (only known names are served)
    files = [(m, p) for m, p in with_variables if p.endswith("/{name}")]
    assert sorted(with_variables) == sorted(ID_ROUTES + users + files)
    assert len(ID_ROUTES) == 16  # 15 of the API, and the page's /sessions/{session_id}
    assert len(users) == 3
