"""What readers take from a session's tree (SPEC §8): a page of one of its sequences, and the
messages a fork starts with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import attrs
from attrs import frozen

from orion_events.domain.errors import InvalidInput
from orion_events.domain.tree import NONE
from orion_events.domain.views import MessageView, SessionView

Branch: TypeAlias = Literal["current", "all"]
Order: TypeAlias = Literal["asc", "desc"]

PAGE_DEFAULT = 100
PAGE_MAX = 1000


def sequence(view: SessionView, branch: Branch) -> Sequence[int]:
    """The message numbers of the current branch (root first), or of every live message of
    every branch in the order they were added."""
    if branch == "current":
        return view.tree.branch()
    return list(view.tree.live_numbers())


@frozen
class MessagePage:
    numbers: Sequence[int]
    # Where the next page starts, as the query that asks for it: ("after", id) or ("before", id);
    # None when this page reaches the end of the sequence.
    next: tuple[str, str] | None


def message_page(
    view: SessionView,
    *,
    branch: Branch = "current",
    order: Order = "asc",
    before: str | None = None,
    after: str | None = None,
    limit: int = PAGE_DEFAULT,
) -> MessagePage:
    """One page of `branch` in `order`. `after` and `before` name messages of that sequence: the
    page holds what comes after the one (its first `limit`) and before the other; with `before`
    alone, the `limit` messages just before it, so that a reader scrolls back a page at a time.
    A message that is not in the sequence (another branch's, removed, unknown) is 422."""
    numbers = list(sequence(view, branch))
    if order == "desc":
        numbers.reverse()
    start, end = 0, len(numbers)
    if after is not None:
        start = _place(view, numbers, after, "after") + 1
    if before is not None:
        end = _place(view, numbers, before, "before")
    if end <= start:
        return MessagePage((), None)
    if before is not None and after is None:
        first = max(start, end - limit)
        page = numbers[first:end]
        return MessagePage(page, ("before", view.tree.id_of(page[0])) if first > start else None)
    page = numbers[start : min(start + limit, end)]
    more = start + limit < end
    return MessagePage(page, ("after", view.tree.id_of(page[-1])) if more else None)


def _place(view: SessionView, numbers: list[int], message_id: str, field: str) -> int:
    number = view.number_of(message_id)
    if number is not None:
        try:
            return numbers.index(number)
        except ValueError:
            pass
    raise InvalidInput(f"{field}: message {message_id[:64]!r} is not in this sequence", field=field)


def fork_messages(view: SessionView, up_to: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The messages a fork starts with, as its event carries them, and its current leaf: the
    whole tree (every live message, parents first), or the branch from the root to `up_to`.
    LookupError when `up_to` names no live message. On the read thread: a long session's are
    many."""
    tree, messages = view.tree, view.loaded_messages
    if up_to is None:
        numbers: Sequence[int] = list(tree.live_numbers())
        current = view.current_id
    else:
        number = view.number_of(up_to)
        if number is None:
            raise LookupError(up_to)
        path = []
        while number != NONE:
            path.append(number)
            number = tree.parent(number)
        numbers, current = path[::-1], up_to
    return [message_data(messages[n], _parent_id(view, n)) for n in numbers], current


def _parent_id(view: SessionView, number: int) -> str | None:
    parent = view.tree.parent(number)
    return None if parent == NONE else view.tree.id_of(parent)


def message_data(message: MessageView, parent_id: str | None) -> dict[str, Any]:
    """A message as a fork carries it in its first event."""
    return {**attrs.asdict(message), "parent_id": parent_id}


__all__ = [
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "Branch",
    "MessagePage",
    "Order",
    "fork_messages",
    "message_data",
    "message_page",
    "sequence",
]
