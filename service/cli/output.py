"""What the commands print besides their results: progress, warnings, bytes for stdout."""

from __future__ import annotations

import sys

from attrs import frozen

SHOWN_EVERY = 100  # items between two counts: a count per item would flood a slow terminal


@frozen
class Progress:
    """A count of long work on one stderr line, rewritten in place.

    Only on a terminal (`on_terminal`): a pipe or a log file gets the results alone.
    """

    verb: str
    noun: str

    @classmethod
    def on_terminal(cls, verb: str, noun: str) -> Progress | None:
        return cls(verb, noun) if sys.stderr.isatty() else None

    def __call__(self, done: int, total: int) -> None:
        """`done` of `total` items; the line ends with the last."""
        if done % SHOWN_EVERY == 0 or done == total:
            end = "\n" if done == total else ""
            self._show(f"{done}/{total}", end)

    def so_far(self, done: int) -> None:
        """`done` items of a total not known beforehand: `finish` ends the line."""
        if done % SHOWN_EVERY == 0:
            self._show(str(done), "")

    def finish(self) -> None:
        print(file=sys.stderr)

    def _show(self, count: str, end: str) -> None:
        print(f"\r{self.verb} {count} {self.noun}", end=end, file=sys.stderr, flush=True)


def emit(data: bytes) -> None:
    sys.stdout.flush()  # anything printed as text goes out first
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def warn(message: str) -> None:
    print(f"orion-events: {message}", file=sys.stderr)
