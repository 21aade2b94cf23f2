"""The group-commit loop both log backends run: appends gather while a commit is under way.

The first append wakes the loop; every append that arrives while its batch commits waits for
the next batch, so one commit (a sync, a transaction) serves all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class CommitQueue(Generic[Item]):
    """Appends waiting for their commit; `run` hands them over, a batch at a time, to `commit`.

    With `grouped=False` each append is a batch of its own (the benchmark's baseline).
    """

    def __init__(
        self, commit: Callable[[list[Item]], Awaitable[None]], *, grouped: bool = True
    ) -> None:
        self._commit = commit
        self._grouped = grouped
        self._pending: list[Item] = []
        self._wakeup = asyncio.Event()
        self._closing = False

    def put(self, item: Item) -> None:
        self._pending.append(item)
        self._wakeup.set()

    async def run(self) -> None:
        """Commit batches until `close`, then what is still pending, and return."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._grouped:
                batch, self._pending = self._pending, []
            else:
                batch, self._pending = self._pending[:1], self._pending[1:]
                if self._pending:
                    self._wakeup.set()
            if batch:
                await self._commit(batch)
            if self._closing and not self._pending:
                return

    def close(self) -> None:
        """Stop once every pending append is committed."""
        self._closing = True
        self._wakeup.set()
