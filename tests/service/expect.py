"""Checks the service tests share: the documented error shape, health, ids, timestamps, logs;
and a raw HTTP request for what aiohttp's client would not send."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from attrs import frozen

SUMMARY_KEYS = {
    "id",
    "title",
    "created_at",
    "updated_at",
    "version",
    "message_count",
    "current_id",
    "metadata",
}
SESSION_KEYS = SUMMARY_KEYS | {"messages"}
MESSAGE_KEYS = {"id", "role", "content", "timestamp", "agent", "model", "parent_id", "sibling_ids"}
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
MIB = 1024 * 1024
JSON = "application/json"
JSON_HEADERS = {"Content-Type": JSON}


def body_id(value: Any) -> str | None:
    """Readable test ids: a JSON body as (the start of) its text; pytest's default otherwise."""
    return orjson.dumps(value).decode()[:60] if isinstance(value, dict) else None


def when(timestamp: Any) -> datetime:
    """An RFC 3339 UTC timestamp ending in Z, parsed; fails on anything else."""
    assert isinstance(timestamp, str)
    assert RFC3339_UTC.fullmatch(timestamp), timestamp
    parsed = datetime.fromisoformat(timestamp)
    assert parsed.utcoffset() == UTC.utcoffset(None)
    return parsed


def check_id(value: Any) -> str:
    assert isinstance(value, str)
    parsed = uuid.UUID(value)
    assert str(parsed) == value, "ids are canonical lowercase UUIDs"
    assert parsed.version in (4, 7)
    return value


def etag_version(response: Any) -> int:
    tag = response.headers["ETag"]
    assert re.fullmatch(r'"\d+"', tag), tag
    return int(tag[1:-1])


def check_error_shape(body: Any) -> dict[str, Any]:
    """`{"error": {"code", "message", "field"?}}` with a non-empty code and message: the error."""
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"code", "message", "field"}
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


async def health_ok(client: Any) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"


async def expect_error(
    client: Any, response: Any, status: int, *, field: str | None = None
) -> dict[str, Any]:
    """The documented error shape with `status` (and `field` if given); the server still serves."""
    assert response.status == status, await response.text()
    assert response.content_type == JSON
    error = check_error_shape(await response.json())
    if field is not None:
        assert error.get("field") == field
    if status == 404:
        assert error["code"] == "not_found"
    await health_ok(client)
    return error


def log_file(data_dir: Path, session_id: str) -> Path:
    return data_dir / "sessions" / f"{session_id}.jsonl"


def event_types(data: bytes) -> list[str]:
    """The event type of every line of a log's bytes."""
    return [orjson.loads(line)["type"] for line in data.splitlines()]


@frozen
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(
    client: Any,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str | bytes] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """Send one HTTP/1.1 request with `target` exactly as given; read the whole answer.

    A header value given as bytes goes on the wire as those bytes, so a test can send what
    aiohttp's client refuses to (bytes that are not UTF-8, say)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        lines = [
            f"{method} {target} HTTP/1.1".encode(),
            f"Host: {client.host}:{client.port}".encode(),
            b"Connection: close",
            f"Content-Length: {len(body)}".encode(),
            *(
                name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
                for name, value in (headers or {}).items()
            ),
        ]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    assert "chunked" not in parsed.get("transfer-encoding", ""), "error bodies are not streamed"
    return RawResponse(int(status_line.split()[1]), parsed, payload)


async def raw_exchange(
    host: str, port: int, *parts: bytes, pause: float = 0.0, seconds: float = 10.0
) -> RawResponse:
    """Send `parts` exactly as they are on a new connection, `pause` s apart, and read one answer
    (which must give its Content-Length) within `seconds`: for requests no client library sends,
    like those aiohttp's own parser refuses."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(seconds):
            for n, part in enumerate(parts):
                if n:
                    await asyncio.sleep(pause)
                writer.write(part)
                await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers["content-length"]))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return RawResponse(int(status_line.split()[1]), headers, body)
