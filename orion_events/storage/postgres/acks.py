"""How far each replica has followed a stream, so that a write which must take effect on every
replica at once (a key revoked, a user disabled: SPEC §9) can wait until all have applied it.

Each replica says, by NOTIFY on ACK_CHANNEL, the seq it has applied of such a stream; every
replica LISTENs. Which replicas there are is what the database knows: one listener connection
each (application_name LISTENER). A replica that dies closes its connection and stops counting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any, Final

log = logging.getLogger(__name__)

ACK_CHANNEL: Final = "orion_followed"
LISTENER: Final = "orion-events-listener"  # the application_name of each replica's listener
_OTHERS: Final = """
    SELECT count(*) FROM pg_stat_activity
    WHERE application_name = $1 AND datname = current_database() AND pid <> $2
"""


class Acks:
    """This replica's acknowledgements, and the others' as they arrive."""

    def __init__(self) -> None:
        self.replica = uuid.uuid4().hex
        self._seen: dict[tuple[str, str], int] = {}  # (replica, stream) -> seq applied
        self._news = asyncio.Event()

    def on_ack(self, connection: object, pid: int, channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            replica, stream, seq = str(payload).split(" ")
            if replica != self.replica:
                key = (replica, stream)
                self._seen[key] = max(self._seen.get(key, 0), int(seq))
                self._news.set()

    async def say(self, pool: Any, stream: str, seq: int) -> None:
        """Tell the others this replica has applied `stream` up to `seq`."""
        async with pool.acquire() as conn:
            await conn.execute(
                "SELECT pg_notify($1, $2)", ACK_CHANNEL, f"{self.replica} {stream} {seq}"
            )

    async def wait_for_all(
        self, pool: Any, listener_pid: int, stream: str, seq: int, within: float
    ) -> bool:
        """Wait until every other live replica has applied `stream` up to `seq`; False when
        `within` seconds passed first (the laggards are logged; the write stands)."""
        deadline = time.monotonic() + within
        while True:
            async with pool.acquire() as conn:
                others: int = await conn.fetchval(_OTHERS, LISTENER, listener_pid)
            done = sum(1 for (_, s), n in self._seen.items() if s == stream and n >= seq)
            if done >= others:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "%d of %d other replicas have not applied %s seq %d within %.1f s",
                    others - done,
                    others,
                    stream,
                    seq,
                    within,
                )
                return False
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), min(left, 0.05))
