"""A session's past as the store reads it: page by page from its log, folded off the event loop.

SPEC §12: a read of history costs in proportion to what it returns, and whole-log work runs off
the event loop. The log reads only the lines asked for and decodes them on its read thread
(storage/readpool.py); here the events are folded into a view on that same thread, a page at a time,
and a read stops at the last event it needs: `?version=N` folds N events, `?as_of` the prefix
written by then, however long the log behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from typing_extensions import TypeIs

from orion_events.domain.events import Recorded
from orion_events.domain.projector import SessionFold
from orion_events.domain.views import SessionView
from orion_events.storage.files.lineindex import LogSpan
from orion_events.storage.port import EventLog
from orion_events.storage.readproc import ReadProcess

T = TypeVar("T")

PAGE = 1024  # events read, then folded, at a time: what a long read holds besides its view
FIRST_PAGE = 16  # a read of the start (?version=1, ?as_of before much happened) reads little
# Reads of more than a page at once; the others wait here, holding nothing. Their jobs run on
# one thread anyway, so more at once only makes each take longer, and hold its half-built view
# longer; two, so that one very long read does not hold up every other.
WIDE_READS = 2


class History:
    """Reads of a session's events and of its state at a point in its past."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._wide = asyncio.Semaphore(WIDE_READS)
        self._process = ReadProcess()

    async def events(self, stream: str, after: int, limit: int) -> list[Recorded]:
        """The events of `stream` after seq `after`, at most `limit` of them."""
        if limit <= PAGE:
            return await self._log.read(stream, after, limit)
        out: list[Recorded] = []
        async with self._wide:
            end = after + limit
            while after < end:
                page = await self._log.read(stream, after, min(PAGE, end - after))
                out.extend(page)
                if len(page) < min(PAGE, end - after):
                    break
                after = page[-1].seq
        return out

    async def session(
        self, stream: str, *, upto: int | None = None, before: str | None = None
    ) -> SessionView | None:
        """The session as its first `upto` events (all: None) left it, or as the longest prefix
        of them written by the instant `before` (a timestamp in the log's own form) did.

        The log's order is the truth, not its clocks (which may have stepped back): the prefix
        ends before the first event stamped after `before`, whatever follows it.
        """
        fold = SessionFold()
        done, view, after = await self._step(fold, stream, 0, FIRST_PAGE, upto, before)
        if not done:
            async with self._wide:  # past the first page: a wide read, which takes a turn
                view = await self._fold_rest(fold, stream, after, upto, before)
        return view

    async def past(
        self,
        stream: str,
        finish: Callable[[SessionView], T],
        *,
        upto: int | None = None,
        before: str | None = None,
    ) -> tuple[int, T] | None:
        """`finish(view)` of the session as `session` finds it, with the view's version; None
        when it did not exist then, or was deleted. Past the first page, where the log is a
        file, the fold and `finish` run in the read process (readproc.py), off this process's
        GIL: `finish` must be a module's own function; its result comes back pickled."""
        fold = SessionFold()
        done, view, after = await self._step(fold, stream, 0, FIRST_PAGE, upto, before)
        if not done:
            async with self._wide:
                span = await self._log.span(stream, 0, upto)
                if span is not None:
                    return await self._process.run(fold_span, span, before, finish)
                view = await self._fold_rest(fold, stream, after, upto, before)
        if not existed(view):
            return None
        made = await self._log.reads.run(finish, view, size=view.message_count)
        return view.version, made

    async def _fold_rest(
        self, fold: SessionFold, stream: str, after: int, upto: int | None, before: str | None
    ) -> SessionView | None:
        """Go on folding page by page from seq `after` until the fold is done."""
        done = False
        view = None
        while not done:
            done, view, after = await self._step(fold, stream, after, PAGE, upto, before)
        return view

    async def _step(
        self,
        fold: SessionFold,
        stream: str,
        after: int,
        size: int,
        upto: int | None,
        before: str | None,
    ) -> tuple[bool, SessionView | None, int]:
        """Fold the next page (at most `size` events after seq `after`) on the read thread:
        whether the fold is done, the view then, and the seq folded up to."""
        want = size if upto is None else min(size, upto - after)
        page = await self._log.read(stream, after, want) if want else []
        last = len(page) < want or not page or page[-1].seq == upto
        done, view = await self._log.reads.run(_fold, fold, page, before, last, size=len(page))
        return done, view, page[-1].seq if page else after

    def close(self) -> None:
        self._process.close()


def fold_span(
    span: LogSpan, before: str | None, finish: Callable[[SessionView], T]
) -> tuple[int, T] | None:
    """In the read process: `History.past` over the lines of `span`, read from its file."""
    fold = SessionFold()
    _, view = _fold(fold, span.read(), before, True)
    return (view.version, finish(view)) if existed(view) else None


def existed(view: SessionView | None) -> TypeIs[SessionView]:
    """Whether a view of the past shows the session then: it had been created, and was not
    deleted (a deleted session's past reads as one that never existed)."""
    return view is not None and not view.deleted


def _fold(
    fold: SessionFold, page: Sequence[Recorded], before: str | None, last: bool
) -> tuple[bool, SessionView | None]:
    """Fold `page` up to the first event stamped after `before`, if any; whether the fold is
    done (that event was found, or `page` is the `last`), and then the view it left."""
    if before is not None:
        for index, recorded in enumerate(page):
            if recorded.at > before:
                page, last = page[:index], True
                break
    fold.add(page)
    return last, fold.view() if last else None


__all__ = ["FIRST_PAGE", "PAGE", "WIDE_READS", "History", "existed", "fold_span"]
