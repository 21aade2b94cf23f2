"""A session's messages as a tree: who answers whom, and which branch is current (SPEC §8).

Messages are numbered in the order they were added (the order of the packed MessageList, and
of `branch=all`), and the tree lies in int32 arrays by number: parent, first child, last child,
next sibling. Children are linked in the order they were added, so a message's last child is
its most recent one and siblings come oldest first without sorting. Adding a message costs
O(1); the current branch (root to leaf) is kept as an array that an addition to its leaf
extends, and that is rebuilt, at the cost of the tree's depth, when the branch changes.

Trees never change: a tree shares its arrays with the trees of later versions, which only add
to them, and each reads only its own first `length` numbers (a link past them belongs to a
later version). Adding to a tree that is not the newest, or removing, works on a copy.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterator
from typing import TypeAlias

from orion_events.domain.ids import KEY_SIZE, message_key, uuid_key, uuid_text

NONE = -1  # no message: the parent of a first message, the current leaf of an empty session


# parents, live flags, keys, the current leaf, and the ids that are no canonical UUID
TreeParts: TypeAlias = "tuple[array[int], bytes, bytes, int, dict[int, str]]"


class MessageTree:
    """The links between a session's messages and its current leaf; immutable.

    Each message's id is kept as a 16-byte key (`message_key`), so the tree answers "which
    message is this id", and "which id is this message", on its own: a session whose messages
    are not in memory (cold) still follows every change to its tree, and knows its current
    branch and leaf. An id that is no canonical UUID (only a hand-written log has one) is kept
    whole besides, since its key is a digest.
    """

    __slots__ = (
        "_branch", "_branch_length", "_first", "_keys", "_last", "_length", "_live", "_named",
        "_next", "_parent", "_root_first", "_root_last", "current",
    )  # fmt: skip

    def __init__(self) -> None:
        self._parent, self._first, self._last, self._next = (array("i") for _ in range(4))
        self._live = bytearray()
        self._keys = bytearray()
        self._named: dict[int, str] = {}  # the ids that are no canonical UUID, by number
        self._length = 0
        self._root_first = self._root_last = NONE  # the first messages (parent NONE), linked
        self.current = NONE
        self._branch = array("i")
        self._branch_length = 0

    # -- reading ------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        """The same messages replying to the same ones, the same removed, the same leaf: the
        links follow from the parents and the order of addition."""
        if not isinstance(other, MessageTree):
            return NotImplemented
        n = self._length
        return (
            n == other._length
            and self.current == other.current
            and self._parent[:n] == other._parent[:n]
            and self._live[:n] == other._live[:n]
            and self._keys[: KEY_SIZE * n] == other._keys[: KEY_SIZE * n]
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MessageTree(length={self._length}, current={self.current})"

    def __len__(self) -> int:
        """How many messages were ever added (removed ones included): the next one's number."""
        return self._length

    @property
    def depth(self) -> int:  # how many messages the current branch holds
        return self._branch_length

    def id_of(self, number: int) -> str:
        named = self._named.get(self._known(number))
        if named is not None:
            return named
        return uuid_text(self._keys[KEY_SIZE * number : KEY_SIZE * (number + 1)])

    def number_of(self, message_id: str) -> int:
        """The live message `message_id` (NONE: none); a scan of 16 bytes a message at the
        speed of `bytes.rfind`."""
        key = message_key(message_id)
        keys, end = self._keys, KEY_SIZE * self._length
        while True:
            at = keys.rfind(key, 0, end)
            if at < 0:
                return NONE
            if at % KEY_SIZE == 0:
                number = at // KEY_SIZE
                return number if self._live[number] else NONE
            end = at + KEY_SIZE - 1  # a match across two keys: look before it

    def parent(self, number: int) -> int:
        return self._parent[self._known(number)]

    def is_live(self, number: int) -> bool:
        return 0 <= number < self._length and bool(self._live[number])

    def children(self, number: int) -> Iterator[int]:
        """The live replies to `number` (NONE: the first messages), oldest first."""
        child = self._root_first if number == NONE else self._first[self._known(number)]
        while NONE < child < self._length:
            yield child
            child = self._next[child]

    def only_child(self, number: int) -> bool:
        """Whether `number` is its parent's one live reply (as every message of a chat that
        never branched is): checked without listing its siblings."""
        parent, following = self.parent(number), self._next[number]
        first = self._root_first if parent == NONE else self._first[parent]
        return first == number and not NONE < following < self._length

    def siblings(self, number: int) -> list[int]:
        """`number` and every live message with its parent, oldest first."""
        return list(self.children(self.parent(number)))

    def below(self, number: int) -> list[int]:
        """Every live reply below `number`, parents before their replies."""
        found = list(self.children(number))
        for n in found:  # grows as it goes
            found.extend(self.children(n))
        return found

    def leaf_from(self, number: int) -> int:
        """The leaf reached from `number` by following, at each step, its most recent reply
        (from NONE: from the most recent first message; NONE when there is none)."""
        while True:
            child = self._last_child(number)
            if child == NONE:
                return number
            number = child

    def branch(self) -> array[int]:
        """The current branch, root first (a copy)."""
        return self._branch[: self._branch_length]

    def live_numbers(self) -> Iterator[int]:
        """Every live message, in the order they were added."""
        live = self._live
        return (n for n in range(self._length) if live[n])

    # -- changing (each returns a new tree) ---------------------------------------------------

    def added(self, parent: int, message_id: str, *, in_place: bool = False) -> MessageTree:
        """With a new message `message_id` (numbered `len(self)`) replying to `parent` (NONE: a
        first message) as the current leaf; `in_place`: this very tree changed, when it is the
        newest and nothing else holds it (a replay's own)."""
        if parent != NONE and not self.is_live(parent):
            raise ValueError(f"no live message {parent} to reply to")
        was_current, tip = self.current, len(self._parent) == self._length
        tree = self if tip else self._copy()
        new = tree._length
        key = uuid_key(message_id)
        if key is None:
            key = message_key(message_id)
            tree._named[new] = message_id
        tree._keys += key
        tree._parent.append(parent)
        tree._first.append(NONE)
        tree._last.append(NONE)
        tree._next.append(NONE)
        tree._live.append(1)
        out = tree if in_place or not tip else tree._shallow()
        out._length = new + 1
        out._link(new, parent)
        out.current = new
        if parent == was_current and len(out._branch) == out._branch_length:
            out._branch.append(new)  # the common case: the current branch grows at its leaf
            out._branch_length += 1
        else:
            out._rebuild_branch()
        return out

    def with_current(self, number: int) -> MessageTree:
        """With the branch through `number` current: its leaf reached by most recent replies."""
        if not self.is_live(number):
            raise ValueError(f"no live message {number}")
        out = self._shallow()
        out.current = self.leaf_from(number)
        if out.current != self.current:
            out._rebuild_branch()
        return out

    def without(self, number: int, *, subtree: bool = False) -> MessageTree:
        """With `number` removed: its replies move up to its parent, in the order they were
        added among its parent's; or, `subtree`, removed with all of them. A removed current
        leaf gives way to the leaf reached from the parent, or the parent, or NONE."""
        if not self.is_live(number):
            raise ValueError(f"no live message {number}")
        out = self._copy()
        parent = out._parent[number]
        removed = [number, *out.below(number)] if subtree else [number]
        out._set_children(parent, [c for c in out.children(parent) if c != number])
        if not subtree:
            moved = list(out.children(number))
            for child in moved:
                out._parent[child] = parent
            merged = sorted([*out.children(parent), *moved])
            out._set_children(parent, merged)
        for n in removed:
            out._live[n] = 0
            out._first[n] = out._last[n] = out._next[n] = NONE
        if not out.is_live(self.current):
            out.current = out.leaf_from(parent)
        out._rebuild_branch()
        return out

    def parts(self) -> TreeParts:
        """The tree as data: every message's parent, live flag and key, the current leaf, and
        the ids that are no canonical UUID."""
        n = self._length
        named = {k: v for k, v in self._named.items() if k < n}
        keys = bytes(self._keys[: KEY_SIZE * n])
        return self._parent[:n], bytes(self._live[:n]), keys, self.current, named

    # -- inside -------------------------------------------------------------------------------

    def _known(self, number: int) -> int:
        if not 0 <= number < self._length:
            raise IndexError(f"no message {number}")
        return number

    def _last_child(self, number: int) -> int:
        """The most recent live reply to `number` in this tree (NONE: none)."""
        last = self._root_last if number == NONE else self._last[number]
        if last < self._length:
            return last
        # The arrays' last child was added by a later tree: walk this tree's own replies.
        found = NONE
        for found in self.children(number):  # noqa: B007 (the loop leaves the last one)
            pass
        return found

    def _link(self, number: int, parent: int) -> None:
        """Link `number` as the newest reply to `parent` (on a tree that owns its arrays)."""
        last = self._last_child(parent)
        if last == NONE:
            if parent == NONE:
                self._root_first = number
            else:
                self._first[parent] = number
        else:
            self._next[last] = number
        if parent == NONE:
            self._root_last = number
        else:
            self._last[parent] = number

    def _set_children(self, parent: int, children: list[int]) -> None:
        """Relink `parent`'s replies as `children` (on a tree that owns its arrays)."""
        for older, newer in itertools.pairwise(children):
            self._next[older] = newer
        first = children[0] if children else NONE
        last = children[-1] if children else NONE
        if children:
            self._next[last] = NONE
        if parent == NONE:
            self._root_first, self._root_last = first, last
        else:
            self._first[parent], self._last[parent] = first, last

    def _rebuild_branch(self) -> None:
        path = []
        number = self.current
        while number != NONE:
            path.append(number)
            number = self._parent[number]
        path.reverse()
        self._branch = array("i", path)
        self._branch_length = len(path)

    def _shallow(self) -> MessageTree:
        """A new tree on the same arrays."""
        out = MessageTree.__new__(MessageTree)
        out._parent, out._first, out._last, out._next = (
            self._parent, self._first, self._last, self._next,
        )  # fmt: skip
        out._live, out._keys, out._named, out._length = (
            self._live, self._keys, self._named, self._length,
        )  # fmt: skip
        out._root_first, out._root_last, out.current = (
            self._root_first, self._root_last, self.current,
        )  # fmt: skip
        out._branch, out._branch_length = self._branch, self._branch_length
        return out

    def _copy(self) -> MessageTree:
        """A new tree on copies of this one's arrays: free to change them."""
        out = self._shallow()
        n = self._length
        out._parent, out._first = self._parent[:n], self._first[:n]
        out._last, out._next = self._last[:n], self._next[:n]
        out._live = self._live[:n]
        out._keys = self._keys[: KEY_SIZE * n]
        out._named = {k: v for k, v in self._named.items() if k < n}
        out._branch = self._branch[: self._branch_length]
        # Links into numbers this tree does not hold (later trees' additions) are none here:
        # the newest tree (the usual one to change) has none, and is copied at C speed.
        if n < len(self._parent):
            for links in (out._first, out._last, out._next):
                for i, link in enumerate(links):
                    if link >= n:
                        links[i] = NONE
            if out._root_last >= n:
                out._root_last = NONE
            out._fix_lasts()
        return out

    def _fix_lasts(self) -> None:
        """After links past this tree were cut, each last child is the last one linked."""
        for n in range(-1, self._length):
            children = list(self.children(n))
            last = children[-1] if children else NONE
            if n == NONE:
                self._root_last = last
            else:
                self._last[n] = last


def from_parts(
    parents: array[int], live: bytes, keys: bytes, current: int, named: dict[int, str]
) -> MessageTree:
    """The tree `MessageTree.parts` gave; ValueError when they are no tree (a damaged
    snapshot)."""
    n = len(parents)
    if len(live) != n or len(keys) != KEY_SIZE * n:
        raise ValueError("a tree's parts of different lengths")
    for number, message_id in named.items():
        if (
            not 0 <= number < n
            or message_key(message_id) != keys[KEY_SIZE * number : KEY_SIZE * (number + 1)]
        ):
            raise ValueError(f"{message_id!r} is not message {number}'s id")
    tree = MessageTree()
    tree._parent = array("i", parents)
    tree._live = bytearray(live)
    tree._keys = bytearray(keys)
    tree._named = dict(named)
    tree._first, tree._last, tree._next = (array("i", [NONE]) * n for _ in range(3))
    tree._length = n
    for number in range(n):
        parent = parents[number]
        if not live[number]:
            continue
        if not (parent == NONE or (0 <= parent < number and live[parent])):
            raise ValueError(f"message {number} replies to {parent}, no earlier live message")
        tree._link(number, parent)
    if current != NONE and not tree.is_live(current):
        raise ValueError(f"current message {current} is not live")
    tree.current = current
    tree._rebuild_branch()
    return tree


def compacted(tree: MessageTree) -> tuple[MessageTree, list[int] | None]:
    """`tree` without its removed messages, renumbered in the same order, and the old numbers
    of those kept (None, and `tree` itself, when none was removed). O(n): for a replay's end,
    which is O(n) already."""
    parents, live, keys, current, named = tree.parts()
    if live.count(0) == 0:
        return tree, None
    kept = list(tree.live_numbers())
    new = {old: number for number, old in enumerate(kept)} | {NONE: NONE}
    return (
        from_parts(
            array("i", [new[parents[old]] for old in kept]),
            b"\x01" * len(kept),
            b"".join(keys[KEY_SIZE * old : KEY_SIZE * (old + 1)] for old in kept),
            new[current],
            {new[old]: name for old, name in named.items() if old in new},
        ),
        kept,
    )


__all__ = ["KEY_SIZE", "NONE", "MessageTree", "TreeParts", "compacted", "from_parts", "message_key"]
