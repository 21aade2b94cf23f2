"""Hostile input on every route: always a 4xx with the error shape, never a 500, never a stray file.

Paths are sent over a raw socket, byte for byte, so that no client-side URL normalisation hides a
`..` or a `%2f` from the server. After every request the server must still answer health, the one
legitimately created session must be unchanged, and a recursive listing of the whole temp dir must
hold exactly what legitimate requests created: nothing else, anywhere.
"""

from __future__ import annotations

import gzip
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.service.expect import (
    JSON,
    JSON_HEADERS,
    MIB,
    SESSION_KEYS,
    RawResponse,
    check_error_shape,
    health_ok,
    log_file,
    raw_request,
)

# -- raw HTTP ---------------------------------------------------------------------------------


async def raw_json_request(
    client: Any, method: str, target: str, body: Any, headers: dict[str, str] | None = None
) -> RawResponse:
    """`raw_request` with `body` as JSON (and its Content-Type), or with no body if it is None."""
    if body is None:
        return await raw_request(client, method, target, headers=headers)
    return await raw_request(
        client, method, target, headers={**(headers or {}), **JSON_HEADERS}, body=orjson.dumps(body)
    )


# -- what must hold after every hostile request -----------------------------------------------


def listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def legit_files(session_ids: list[str], *, settings: bool = False) -> set[str]:
    expected = {"var", "var/lock", "var/sessions"}
    expected |= {f"var/sessions/{sid}.jsonl" for sid in session_ids}
    if settings:
        expected.add("var/settings.jsonl")
    return expected


def check_error_body(status: int, content_type: str, body: bytes, what: str = "") -> None:
    """A 4xx (never a 500) in the documented shape `{"error": {"code", "message", "field"?}}`."""
    assert 400 <= status < 500, f"{what} -> {status} {body[:300]!r}"
    assert content_type.split(";")[0].strip() == JSON
    error = check_error_shape(orjson.loads(body))
    assert isinstance(error.get("field", ""), str)


async def check_client_error(response: Any) -> tuple[int, dict[str, Any]]:
    body = await response.read()
    what = f"{response.method} {response.url.path_qs}"
    check_error_body(response.status, response.headers.get("Content-Type", ""), body, what)
    return response.status, orjson.loads(body)["error"]


def check_raw_error(response: RawResponse, what: str = "") -> tuple[int, dict[str, Any]]:
    content_type = response.headers.get("content-type", "")
    check_error_body(response.status, content_type, response.body, what)
    return response.status, orjson.loads(response.body)["error"]


class World:
    """One legitimate session and everything that must stay as it is around it."""

    def __init__(self, client: Any, tmp_path: Path, session: dict[str, Any]) -> None:
        self.client = client
        self.tmp_path = tmp_path
        self.session = session
        self.sid: str = session["id"]
        self.log = log_file(tmp_path / "var", self.sid)
        self.log_bytes = self.log.read_bytes()
        self.files = listing(tmp_path)
        self.neighbours = {p.name for p in tmp_path.parent.iterdir()}

    async def check_unharmed(self) -> None:
        await health_ok(self.client)
        fetched = await self.client.get(f"/api/sessions/{self.sid}")
        assert fetched.status == 200
        assert await fetched.json() == self.session
        listed = await (await self.client.get("/api/sessions")).json()
        assert [s["id"] for s in listed] == [self.sid]
        settings = await (await self.client.get("/api/settings")).json()
        assert settings["theme"] == "dark"
        assert self.log.read_bytes() == self.log_bytes
        assert listing(self.tmp_path) == self.files == legit_files([self.sid])
        assert {p.name for p in self.tmp_path.parent.iterdir()} == self.neighbours

    async def refused(
        self, response: Any, status: int, *, field: str | None = None
    ) -> dict[str, Any]:
        """An error with `status` (a 404 saying not_found; `field` if given); nothing harmed."""
        if isinstance(response, RawResponse):
            got, error = check_raw_error(response)
        else:
            got, error = await check_client_error(response)
        assert got == status
        if status == 404:
            assert error["code"] == "not_found"
        if field is not None:
            assert error.get("field") == field
        await self.check_unharmed()
        return error


@pytest.fixture
async def world(client: Any, tmp_path: Path) -> World:
    response = await client.post("/api/sessions", json={"title": "legit", "metadata": {"k": "v"}})
    assert response.status == 201
    message = await client.post(
        f"/api/sessions/{(await response.json())['id']}/messages",
        json={"role": "user", "content": "hello"},
    )
    assert message.status == 201
    session = await (await client.get(response.headers["Location"])).json()
    assert set(session) == SESSION_KEYS
    return World(client, tmp_path, session)


# -- hostile session ids ----------------------------------------------------------------------

ID_ROUTES = [
    ("GET", "/api/sessions/{id}", None),
    ("PUT", "/api/sessions/{id}", {"title": "hijacked"}),
    ("DELETE", "/api/sessions/{id}", None),
    ("POST", "/api/sessions/{id}/messages", {"role": "user", "content": "hijacked"}),
    ("DELETE", "/api/sessions/{id}/messages", None),
]

# As sent on the wire (already percent-encoded); "{sid}" is the legitimate session's id. None of
# these holds a raw "/", so each one stays a single {id} path segment: SPEC says 404.
ONE_SEGMENT_IDS = [
    "..",
    ".",
    "...",
    "%2e%2e",
    "%2E%2E",
    "%2e",
    "..%2f..%2fsettings",
    "%2e%2e%2f%2e%2e%2fsettings.jsonl",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5csettings",
    "%2f",
    "%2F",
    "%2fetc%2fpasswd",
    "%00",
    "{sid}%00",
    "{sid}%00.jsonl",
    "..%00",
    "{sid}.jsonl",
    "{sid}%2f..",
    "..%2f{sid}",
    "%2e%2e%2fsessions%2f{sid}",
    "{sid}x",
    "x{sid}",
    "{sid}-0000",
    "%7b{sid}%7d",
    "urn:uuid:{sid}",
    "{sid}%20",
    "%20{sid}",
    "lock",
    "settings",
    "settings.jsonl",
    "sessions",
    "quarantine",
    "~",
    "*",
    "%",
    "%zz",
    "%C0%AE%C0%AE",
    "%ff%fe",
    "%E2%80%AE",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "null",
    "undefined",
    "0",
    "-1",
    "not-a-uuid",
    "00000000-0000-0000-0000-00000000000g",
    "00000000000040008000000000000000",
    "A" * 8000,
    "a" * 36,
    "{upper_unknown}",
    "GARBAGE-ID",
]

# With raw slashes the path no longer names one {id}; the answer must still be a clean 4xx.
MULTI_SEGMENT_IDS = [
    "../settings",
    "../../../../../../etc/passwd",
    "{sid}/..",
    "{sid}/../..",
    "./{sid}",
    "a/b",
    "/",
    "{sid}/x",
]


def fill(template: str, sid: str) -> str:
    unknown = str(uuid.uuid4()).upper()
    return template.replace("{sid}", sid).replace("{upper_unknown}", unknown)


def route_cases(
    routes: list[tuple[str, str, Any]], values: list[str], label: Callable[[str], str] = str
) -> list[Any]:
    """Each route with each value, `(*route, value)`, named "METHOD path label(value)"."""
    return [
        pytest.param(*route, value, id=f"{route[0]} {route[1]} {label(value)}")
        for route in routes
        for value in values
    ]


def id_cases(ids: list[str]) -> list[Any]:
    return route_cases(ID_ROUTES, ids, lambda hostile: hostile[:40])


@pytest.mark.parametrize(("method", "path", "body", "hostile"), id_cases(ONE_SEGMENT_IDS))
async def test_malformed_id_is_404_and_touches_nothing(world, method, path, body, hostile) -> None:
    target = path.replace("{id}", fill(hostile, world.sid))
    response = await raw_json_request(world.client, method, target, body)
    await world.refused(response, 404)


@pytest.mark.parametrize(("method", "path", "body", "hostile"), id_cases(MULTI_SEGMENT_IDS))
async def test_slashed_id_is_a_clean_4xx(world, method, path, body, hostile) -> None:
    target = path.replace("{id}", fill(hostile, world.sid))
    response = await raw_json_request(world.client, method, target, body)
    status, _ = check_raw_error(response)
    assert status in (404, 405)
    await world.check_unharmed()


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ID_ROUTES if r[0] != "DELETE"])
async def test_uppercased_existing_id_reaches_no_other_file(world, method, path, body) -> None:
    """UUIDs are case-insensitive (RFC 9562): SPEC allows 404 or the same session, nothing else."""
    target = path.replace("{id}", world.sid.upper())
    response = await world.client.request(method, target, json=body)
    if response.status >= 400:
        await world.refused(response, 404)
        return
    assert response.status in (200, 201)
    if path == "/api/sessions/{id}":
        assert (await response.json())["id"] == world.sid
    assert listing(world.tmp_path) == legit_files([world.sid])


# -- hostile bodies ---------------------------------------------------------------------------

BODY_ROUTES = [
    ("POST", "/api/sessions", {"title": "x"}),
    ("PUT", "/api/sessions/{id}", {"title": "x"}),
    ("POST", "/api/sessions/{id}/messages", {"role": "user", "content": "x"}),
    ("PATCH", "/api/settings", {"theme": "light"}),
]

MALFORMED = {
    "unclosed": b"{",
    "close-only": b"}",
    "double-brace": b"{{}}",
    "no-value": b'{"a":}',
    "single-quotes": b"{'title': 'x'}",
    "unquoted-key": b"{title: 1}",
    "trailing-comma": b'{"title": "x",}',
    "missing-colon": b'{"title" "x"}',
    "truncated-literal": b"tru",
    "two-objects": b'{"a": 1}{"b": 2}',
    "trailing-garbage": b'{"title": "x"} x',
    "comment": b'/* c */ {"title": "x"}',
    "nan": b'{"title": NaN}',
    "infinity": b'{"temperature": Infinity}',
    "overflow-number": b'{"max_tokens": 1e400}',
    "lone-surrogate": b'{"title": "\\ud800"}',
    "bad-escape": b'{"title": "\\x41"}',
    "raw-control-char": b'{"title": "a\nb\x01"}',
    "nul-byte": b"\x00",
    "bom": b'\xef\xbb\xbf{"title": "x"}',
    "bad-utf8-value": b'{"title": "\xff"}',
    "bad-utf8-key": b'{"\xc3\x28": 1}',
    "overlong-utf8": b'{"title": "\xc0\xae"}',
    "cesu-surrogate": b'{"title": "\xed\xa0\x80"}',
    "utf16": '{"title": "x"}'.encode("utf-16"),
    "latin1": '{"title": "caf\xe9"}'.encode("latin-1"),
    "deep-arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep-objects": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "deep-in-field": b'{"metadata":' + b"[" * 2_000 + b"]" * 2_000 + b"}",
}

NON_OBJECT = {
    "array": b"[]",
    "array-of-object": b'[{"title": "x"}]',
    "string": b'"title"',
    "zero": b"0",
    "negative-float": b"-1.5",
    "big-int": b"1" + b"0" * 400,
    "null": b"null",
    "true": b"true",
    "false": b"false",
}


BODY_ROUTE_CASES = [pytest.param(*r, id=f"{r[0]} {r[1]}") for r in BODY_ROUTES]


def body_cases(bodies: dict[str, bytes]) -> list[Any]:
    return [
        pytest.param(method, path, raw, id=f"{method} {path} {name}")
        for method, path, _ in BODY_ROUTES
        for name, raw in bodies.items()
    ]


async def send(world: World, method: str, path: str, body: Any, **kwargs: Any) -> Any:
    return await world.client.request(method, path.replace("{id}", world.sid), data=body, **kwargs)


@pytest.mark.parametrize(("method", "path", "raw"), body_cases(MALFORMED))
async def test_malformed_json_is_400(world, method, path, raw) -> None:
    response = await send(world, method, path, raw, headers=JSON_HEADERS)
    await world.refused(response, 400)


@pytest.mark.parametrize(("method", "path", "raw"), body_cases(NON_OBJECT))
async def test_body_that_is_no_object_is_400(world, method, path, raw) -> None:
    response = await send(world, method, path, raw, headers=JSON_HEADERS)
    await world.refused(response, 400)


CONTENT_TYPES = [
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "application/json-patch+json",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
]


@pytest.mark.parametrize(
    ("method", "path", "good", "content_type"), route_cases(BODY_ROUTES, CONTENT_TYPES)
)
async def test_wrong_content_type_is_415(world, method, path, good, content_type) -> None:
    response = await send(
        world, method, path, orjson.dumps(good), headers={"Content-Type": content_type}
    )
    await world.refused(response, 415)


@pytest.mark.parametrize(("method", "path", "good"), BODY_ROUTE_CASES)
async def test_missing_content_type_is_415(world, method, path, good) -> None:
    target = path.replace("{id}", world.sid)
    response = await raw_request(world.client, method, target, body=orjson.dumps(good))
    await world.refused(response, 415)


@pytest.mark.parametrize(("method", "path", "good"), BODY_ROUTE_CASES)
async def test_body_over_2_mib_is_413(world, method, path, good) -> None:
    core = orjson.dumps(good)
    body = io.BytesIO(core + b" " * (2 * MIB + 1 - len(core)))
    response = await send(world, method, path, body, headers=JSON_HEADERS)
    await world.refused(response, 413)


@pytest.mark.parametrize(("method", "path", "good"), BODY_ROUTE_CASES)
async def test_gzip_bomb_is_refused(world, method, path, good) -> None:
    core = orjson.dumps(good)
    bomb = gzip.compress(core[:-1] + b" " * (64 * MIB) + b"}")
    assert len(bomb) < MIB
    response = await send(
        world, method, path, bomb, headers={"Content-Type": JSON, "Content-Encoding": "gzip"}
    )
    await world.refused(response, 413)


# Bodies that are not what their Content-Encoding says. aiohttp reports these only when the
# handler reads the body, as RequestPayloadError (no HTTPException), so nothing maps them unless
# the service does: a 500 until it did.
BAD_ENCODINGS = {
    "gzip-garbage": ("gzip", b'{"title": "x"}'),
    "gzip-magic-then-garbage": ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 32),
    "gzip-then-trailing-garbage": ("gzip", gzip.compress(b'{"title": "x"}') + b"garbage"),
    "deflate-garbage": ("deflate", b"\xff\xfe not deflate at all"),
    "deflate-of-gzip": ("deflate", gzip.compress(b'{"title": "x"}') + b"garbage"),
}

# Every route that reads a JSON body; "{mid}" is the legitimate session's message.
ENCODED_BODY_ROUTES = [
    *((method, path) for method, path, _ in BODY_ROUTES),
    ("POST", "/api/sessions/{id}/fork"),
    ("PATCH", "/api/sessions/{id}/messages/{mid}"),
]


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        pytest.param(method, path, name, id=f"{method} {path} {name}")
        for method, path in ENCODED_BODY_ROUTES
        for name in BAD_ENCODINGS
    ],
)
async def test_body_not_in_its_content_encoding_is_400(world, method, path, name) -> None:
    encoding, raw = BAD_ENCODINGS[name]
    target = path.replace("{id}", world.sid).replace("{mid}", world.session["messages"][0]["id"])
    headers = {"Content-Type": JSON, "Content-Encoding": encoding}
    response = await world.client.request(method, target, data=raw, headers=headers)
    error = await world.refused(response, 400)
    assert error["code"] == "bad_request"


# -- wrong types, unknown fields, oversize fields ---------------------------------------------

# Deep, but within what orjson encodes (255 levels); deeper bodies are in MALFORMED above.
NESTED_OBJECT: Any = "leaf"
for _ in range(200):
    NESTED_OBJECT = {"a": NESTED_OBJECT}
NESTED_ARRAY: Any = []
for _ in range(200):
    NESTED_ARRAY = [NESTED_ARRAY]

SAMPLES: dict[str, list[Any]] = {
    "bool": [True, False],
    "int": [0, -1, 7, 2**63 - 1],
    "float": [1.5, -0.25, 1e300],
    "str": ["", "x", "\u0000", "é" * 300],
    "array": [[], ["user"], NESTED_ARRAY],
    "object": [{}, {"role": "user"}, NESTED_OBJECT],
    "null": [None],
}

# Each field: the JSON types it accepts, and a body that is valid but for that field. A null
# optional field (title, metadata, agent, model) reads as absent, so null is no wrong type there.
FIELDS: list[tuple[str, str, str, set[str], dict[str, Any]]] = [
    ("POST", "/api/sessions", "title", {"str", "null"}, {}),
    ("POST", "/api/sessions", "metadata", {"object", "null"}, {}),
    ("PUT", "/api/sessions/{id}", "title", {"str", "null"}, {}),
    ("PUT", "/api/sessions/{id}", "metadata", {"object", "null"}, {}),
    ("POST", "/api/sessions/{id}/messages", "role", {"str"}, {"content": "x"}),
    ("POST", "/api/sessions/{id}/messages", "content", {"str"}, {"role": "user"}),
    ("POST", "/api/sessions/{id}/messages", "agent", {"str", "null"}, {"role": "user"}),
    ("POST", "/api/sessions/{id}/messages", "model", {"str", "null"}, {"role": "user"}),
    ("PATCH", "/api/settings", "theme", {"str"}, {}),
    ("PATCH", "/api/settings", "language", {"str"}, {}),
    ("PATCH", "/api/settings", "enable_sounds", {"bool"}, {}),
    ("PATCH", "/api/settings", "enable_notifications", {"bool"}, {}),
    ("PATCH", "/api/settings", "auto_play_tts", {"bool"}, {}),
    ("PATCH", "/api/settings", "default_model", {"str"}, {}),
    ("PATCH", "/api/settings", "temperature", {"int", "float"}, {}),
    ("PATCH", "/api/settings", "max_tokens", {"int"}, {}),
]


def wrong_type_cases() -> list[Any]:
    cases = []
    for method, path, field, accepted, rest in FIELDS:
        for kind, values in SAMPLES.items():
            if kind in accepted:
                continue
            for n, value in enumerate(values):
                body = {**rest, field: value}
                if field in ("agent", "model"):
                    body.setdefault("content", "x")
                name = f"{method} {path} {field}={kind}{n}"
                cases.append(pytest.param(method, path, field, body, id=name))
    return cases


@pytest.mark.parametrize(("method", "path", "field", "body"), wrong_type_cases())
async def test_wrong_type_is_422_naming_the_field(world, method, path, field, body) -> None:
    response = await send(world, method, path, orjson.dumps(body), headers=JSON_HEADERS)
    await world.refused(response, 422, field=field)


UNKNOWN_KEYS = ["__proto__", "constructor", "", "\u0000", "id", "version", "title ", "k" * 10_000]


@pytest.mark.parametrize(
    ("method", "path", "good", "key"),
    route_cases(BODY_ROUTES, UNKNOWN_KEYS, lambda key: repr(key[:20])),
)
async def test_unknown_field_is_422_naming_it(world, method, path, good, key) -> None:
    body = orjson.dumps({**good, key: {"x": 1}})
    response = await send(world, method, path, body, headers=JSON_HEADERS)
    await world.refused(response, 422, field=key)


OVERSIZE: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/api/sessions", "title", {"title": "t" * 201}),
    ("POST", "/api/sessions", "title", {"title": "t" * 500_000}),
    ("PUT", "/api/sessions/{id}", "title", {"title": "t" * 201}),
    ("POST", "/api/sessions", "metadata", {"metadata": {str(i): "v" for i in range(17)}}),
    ("POST", "/api/sessions", "metadata", {"metadata": {str(i): "v" for i in range(50_000)}}),
    ("PUT", "/api/sessions/{id}", "metadata", {"metadata": {"k" * 65: "v"}}),
    ("PUT", "/api/sessions/{id}", "metadata", {"metadata": {"k": "v" * 513}}),
    ("PUT", "/api/sessions/{id}", "metadata", {"metadata": {"k": "v" * 1_000_000}}),
    (
        "POST",
        "/api/sessions/{id}/messages",
        "content",
        {"role": "user", "content": "c" * (MIB + 1)},
    ),
    ("POST", "/api/sessions/{id}/messages", "content", {"role": "user", "content": "€" * 349_526}),
    ("POST", "/api/sessions/{id}/messages", "role", {"role": "u" * 100_000, "content": "x"}),
    ("PATCH", "/api/settings", "max_tokens", {"max_tokens": 10**18}),
    ("PATCH", "/api/settings", "temperature", {"temperature": 1e308}),
    ("PATCH", "/api/settings", "default_model", {"default_model": ""}),
]


@pytest.mark.parametrize(
    ("method", "path", "field", "body"),
    [pytest.param(m, p, f, b, id=f"{m} {p} {f}-{i}") for i, (m, p, f, b) in enumerate(OVERSIZE)],
)
async def test_oversize_field_is_422(world, method, path, field, body) -> None:
    raw = io.BytesIO(orjson.dumps(body))
    response = await send(world, method, path, raw, headers=JSON_HEADERS)
    await world.refused(response, 422, field=field)


# -- hostile headers and query strings --------------------------------------------------------

WRITE_ROUTES = [
    ("PUT", "/api/sessions/{id}", {"title": "x"}),
    ("DELETE", "/api/sessions/{id}", None),
    ("POST", "/api/sessions/{id}/messages", {"role": "user", "content": "x"}),
    ("DELETE", "/api/sessions/{id}/messages", None),
]
BAD_IF_MATCH = ['"abc"', '"-1"', '""', "garbage", '"99999999999999999999999"', '"²"', '"1.0"']


@pytest.mark.parametrize(
    ("method", "path", "body", "if_match"), route_cases(WRITE_ROUTES, BAD_IF_MATCH)
)
async def test_if_match_naming_no_version_is_412(world, method, path, body, if_match) -> None:
    target = path.replace("{id}", world.sid)
    response = await raw_json_request(world.client, method, target, body, {"If-Match": if_match})
    await world.refused(response, 412)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=%00", "limit"),
        ("limit=-0", "limit"),
        ("limit=1%3bx", "limit"),
        ("limit=0x10", "limit"),
        ("limit=%C2%B2", "limit"),
        ("limit=1&cursor=%00", "cursor"),
        ("limit=1&cursor=..%2f..%2fetc%2fpasswd", "cursor"),
        ("limit=1&cursor=%C3%A9%C3%A9%C3%A9%C3%A9", "cursor"),
        ("limit=1&cursor=" + "A" * 4000, "cursor"),
    ],
)
async def test_hostile_list_query_is_422(world, query, field) -> None:
    response = await raw_request(world.client, "GET", f"/api/sessions?{query}")
    await world.refused(response, 422, field=field)


# -- the whole battery on one server ----------------------------------------------------------


async def test_whole_battery_on_one_server_leaves_only_legit_files(client, tmp_path) -> None:
    """Every hostile request above against one long-lived server, between legitimate writes."""
    neighbours = {p.name for p in tmp_path.parent.iterdir()}
    first = await client.post("/api/sessions", json={"title": "first"})
    sid = (await first.json())["id"]
    answers: list[int] = []

    for method, path, body in ID_ROUTES:
        for hostile in ONE_SEGMENT_IDS + MULTI_SEGMENT_IDS:
            target = path.replace("{id}", fill(hostile, sid))
            response = await raw_json_request(client, method, target, body)
            answers.append(check_raw_error(response, f"{method} {target[:80]}")[0])
    for method, path, _ in BODY_ROUTES:
        for raw in [*MALFORMED.values(), *NON_OBJECT.values()]:
            response = await client.request(
                method, path.replace("{id}", sid), data=raw, headers=JSON_HEADERS
            )
            answers.append((await check_client_error(response))[0])
    for case in wrong_type_cases():
        method, path, field, body = case.values
        response = await client.request(method, path.replace("{id}", sid), json=body)
        body_text = orjson.dumps(body)[:80].decode(errors="replace")
        check_error_body(
            response.status, response.content_type, await response.read(), f"{case.id} {body_text}"
        )
        status, error = response.status, (await response.json())["error"]
        assert (status, error.get("field")) == (422, field)
        answers.append(status)
    assert set(answers) <= {400, 404, 405, 422}

    second = await client.post("/api/sessions")
    second_id = (await second.json())["id"]
    added = await client.post(
        f"/api/sessions/{second_id}/messages", json={"role": "user", "content": "still fine"}
    )
    assert added.status == 201
    assert (await client.patch("/api/settings", json={"theme": "light"})).status == 200
    await health_ok(client)
    listed = await (await client.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [second_id, sid]
    assert listed[1]["title"] == "first"
    assert listed[1]["version"] == 1
    assert listing(tmp_path) == legit_files([sid, second_id], settings=True)
    assert {p.name for p in tmp_path.parent.iterdir()} == neighbours
