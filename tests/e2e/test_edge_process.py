"""The real `orion-events serve` at its edge (SPEC §12): what aiohttp's parser refuses is a JSON
4xx quoting none of the request, a client that leaves mid-request is one INFO line, and the
process serves on, stops cleanly, and logs no ERROR and no traceback throughout.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.e2e.conftest import HOST, Server
from tests.service.expect import raw_exchange
from tests.service.test_edge import (
    CHUNKED,
    HALF_A_BODY,
    MALFORMED,
    MARK,
    check_refused,
    send_and_leave,
)

pytestmark = pytest.mark.e2e

HEALTH = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
LEAVES = 4


async def lines_saying(server: Server, words: str, count: int, seconds: float = 10.0) -> list[str]:
    """The process's log lines holding `words`, once there are `count` of them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found = [line for line in server.stderr().splitlines() if words in line]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_the_real_process_answers_and_logs_its_edge_as_the_spec_says(
    server: Server,
) -> None:
    for name, request in MALFORMED.items():
        answer = await raw_exchange(HOST, server.port, request)
        assert check_refused(answer)["code"] == "bad_request", name
        assert (await raw_exchange(HOST, server.port, HEALTH)).status == 200, name
    late = await raw_exchange(
        HOST, server.port, CHUNKED + b"1\r\n{\r\n", b"zzECHO\r\n", pause=0.2, seconds=5
    )
    assert late.status == 400
    assert "chunk" in check_refused(late)["message"]

    for n in range(LEAVES):
        await send_and_leave(HOST, server.port, HALF_A_BODY, reset=n % 2 == 1)
    left = await lines_saying(server, "the client left", LEAVES)
    assert len(left) == LEAVES, server.stderr()
    assert all(" INFO service.edge: POST '/api/sessions' from 127.0.0.1" in line for line in left)
    assert (await raw_exchange(HOST, server.port, HEALTH)).status == 200

    assert await server.exit_code_after(signal.SIGTERM) == 0
    log = server.stderr()
    refused = [line for line in log.splitlines() if "refused a malformed" in line]
    assert len(refused) == len(MALFORMED) + 1, log
    assert all(" INFO service.edge: " in line for line in refused)
    assert len(log.splitlines()) == len(refused) + LEAVES + 3, log  # loaded, serving, closed
    for loud in ("Traceback", " ERROR ", " WARNING ", " CRITICAL "):
        assert loud not in log, log
    assert MARK.decode() not in log
