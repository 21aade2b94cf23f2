"""The connection layer (service.edge) on a real server: what aiohttp's parser refuses and clients
that go away mid-request (SPEC §12).

Every request here goes over a raw socket, byte for byte, since no client library sends them.
A refused request gets a 4xx in the JSON error shape that quotes none of its bytes (each carries
a marker that must appear neither in the answer nor in the log), is logged in one line without a
traceback, and the server serves the next request. A client that leaves mid-request is one INFO
line, never an ERROR with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from service.app import create_app
from service.config import Config
from tests.conftest import EdgeTestServer
from tests.service.expect import (
    JSON,
    RawResponse,
    check_error_shape,
    health_ok,
    raw_exchange,
)
from tests.service.test_live_api import UncancelledServer, until

MARK = b"ECHO"  # in the bytes each bad request gets wrong; never in an answer or the log
POST = b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
HALF_A_BODY = POST + b"Content-Length: 1048576\r\n\r\n" + b" " * 65536

MALFORMED: dict[str, bytes] = {
    "header-over-8-KiB": b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: "
    + MARK * 2300
    + b"\r\n\r\n",
    "header-name-over-8-KiB": b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
    + MARK * 2300
    + b": x\r\n\r\n",
    "request-line-over-8-KiB": b"GET /api/" + MARK * 2300 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "too-many-headers": b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: ECHO\r\n" % n for n in range(200))
    + b"\r\n",
    "control-character-in-method": b"GET\x01ECHO /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "not-http": b"ECHO ECHO ECHO\r\n\r\n",
    "tls-on-the-http-port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfcECHO\r\n\r\n",
    "unknown-http-version": b"GET /api/ECHO HTTP/9.9\r\nHost: x\r\n\r\n",
    "space-in-a-header-name": b"GET /api/health HTTP/1.1\r\nHost: x\r\nX ECHO: y\r\n\r\n",
    "control-character-in-a-header": b"GET /api/health HTTP/1.1\r\nHost: x\r\nX: a\x01ECHO\r\n\r\n",
    "bad-chunk-size": CHUNKED + b"zzECHO\r\n{}\r\n0\r\n\r\n",
    "chunk-without-its-crlf": CHUNKED + b"2\r\n{}ECHO\r\n0\r\n\r\n",
    "chunked-and-content-length": POST
    + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "two-content-lengths": POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}ECHO",
}


def check_refused(answer: RawResponse) -> dict[str, Any]:
    assert 400 <= answer.status < 500, answer
    assert answer.headers["content-type"].split(";")[0] == JSON, answer
    assert MARK not in answer.body, answer.body
    return check_error_shape(orjson.loads(answer.body))


def check_log(caplog: Any, *, lines: int, saying: str) -> None:
    """`lines` INFO lines from service.edge saying `saying`; nothing else at INFO or above from
    aiohttp or the service, no traceback, and not a byte of the requests."""
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    assert [r for r in caplog.records if r.exc_info] == []
    said = [r for r in caplog.records if r.name == "service.edge" and r.levelno == logging.INFO]
    assert len(said) == lines, [r.getMessage() for r in said]
    assert all(saying in r.getMessage() for r in said), [r.getMessage() for r in said]
    assert MARK.decode() not in caplog.text


async def serves(client: Any) -> None:
    """The server still answers: through the client, and on a new raw connection."""
    await health_ok(client)
    answer = await raw_exchange(
        client.host, client.port, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert answer.status == 200


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=list(MALFORMED))
async def test_what_the_parser_refuses_is_a_json_4xx(client, caplog, request_bytes) -> None:
    caplog.set_level(logging.INFO)
    answer = await raw_exchange(client.host, client.port, request_bytes)
    error = check_refused(answer)
    assert error["code"] == "bad_request"
    check_log(caplog, lines=1, saying="refused a malformed request")
    await serves(client)


async def test_the_parsers_reason_is_kept_when_it_quotes_nothing(client) -> None:
    answer = await raw_exchange(client.host, client.port, MALFORMED["bad-chunk-size"])
    assert check_refused(answer)["message"] == (
        "the request is not valid HTTP/1.1: Invalid character in chunk size"
    )
    answer = await raw_exchange(client.host, client.port, MALFORMED["header-over-8-KiB"])
    assert "longer than the server accepts" in check_refused(answer)["message"]


@pytest.mark.parametrize(
    "late",
    [b"zzECHO\r\n{}\r\n0\r\n\r\n", b"2\r\n{}ECHO\r\n0\r\n\r\n", b"2;\x01ECHO\r\n{}\r\n"],
    ids=["bad-chunk-size", "chunk-without-its-crlf", "control-character-in-an-extension"],
)
async def test_bad_chunking_after_the_body_began_is_a_json_400(client, caplog, late) -> None:
    """The handler is already reading the body when its framing breaks: it is answered, not
    left waiting for a body that can never come."""
    caplog.set_level(logging.INFO)
    answer = await raw_exchange(
        client.host, client.port, CHUNKED + b"1\r\n{\r\n", late, pause=0.2, seconds=5
    )
    error = check_refused(answer)
    assert answer.status == 400
    assert error["code"] == "bad_request"
    assert "chunk" in error["message"]
    check_log(caplog, lines=1, saying="refused a malformed body")
    assert (await (await client.get("/api/sessions")).json()) == []
    await serves(client)


# -- clients that leave mid-request ---------------------------------------------------------


@pytest.fixture
async def production_client(aiohttp_client: Any, data_dir: Path) -> Any:
    """As `orion-events serve` runs: a client that leaves does not cancel its handler."""
    app = create_app(Config(data_dir=data_dir))

    @web.middleware
    async def hold(request: web.Request, handler: Any) -> web.StreamResponse:
        # Hold the answer to a request marked so until its client has gone, as a slow disk would.
        response: web.StreamResponse = await handler(request)
        if "X-Hold" in request.headers:
            await until(lambda: request.transport is None or request.transport.is_closing())
        return response

    app.middlewares.append(hold)
    return await aiohttp_client(UncancelledServer(app))


async def send_and_leave(host: str, port: int, data: bytes, *, reset: bool) -> None:
    """Send `data` on a new connection and leave without reading anything."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, data)
        await asyncio.sleep(0.1)  # the server is reading the body, or holding the request
        if reset:  # as a client that crashed or lost its network
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
async def test_a_client_leaving_mid_body_is_one_info_line(production_client, caplog, reset) -> None:
    caplog.set_level(logging.INFO)
    client = production_client
    for _ in range(3):
        await send_and_leave(client.host, client.port, HALF_A_BODY, reset=reset)
    await until(lambda: len([r for r in caplog.records if "left" in r.getMessage()]) >= 3)
    await asyncio.sleep(0.2)  # nothing more comes
    check_log(caplog, lines=3, saying="the client left before its answer")
    assert (await (await client.get("/api/sessions")).json()) == []
    await serves(client)


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
async def test_a_client_leaving_before_its_answer_is_one_info_line(
    production_client, caplog, reset
) -> None:
    """The write it asked for is done (the handler is not cancelled); only the answer is lost."""
    caplog.set_level(logging.INFO)
    client = production_client
    request = POST + b"X-Hold: 1\r\nContent-Length: 2\r\n\r\n{}"
    await send_and_leave(client.host, client.port, request, reset=reset)
    await until(lambda: [r for r in caplog.records if "left" in r.getMessage()])
    await asyncio.sleep(0.2)
    check_log(caplog, lines=1, saying="POST '/api/sessions' from 127.0.0.1: the client left")
    listed = await (await client.get("/api/sessions")).json()
    assert [s["title"] for s in listed] == ["New Chat"]
    await serves(client)


async def test_an_error_no_handler_answered_is_a_json_500_logged_with_its_traceback(
    aiohttp_client: Any, caplog: Any
) -> None:
    """Every route is guarded (service.middlewares), so only a bug reaches aiohttp's handler of
    last resort: even then the answer is in the error shape, and the bug is logged in full."""

    async def broken(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("a bug")

    app = web.Application()
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(EdgeTestServer(app))
    response = await client.get("/broken")
    assert response.status == 500
    assert response.content_type == JSON
    assert check_error_shape(await response.json())["code"] == "internal"
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.exc_info is not None
    assert "a bug" in caplog.text
