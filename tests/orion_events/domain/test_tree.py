"""The message tree (domain/tree.py) against a plain model of SPEC §8, operation by operation,
on random sessions; and earlier trees unchanged by what later ones did."""

from __future__ import annotations

import random
import uuid
from array import array

import pytest

from orion_events.domain.tree import (
    KEY_SIZE,
    NONE,
    MessageTree,
    compacted,
    from_parts,
    message_key,
)

SEEDS = range(40)


def key(number: int) -> str:
    """The id of the message numbered `number` in these tests: a canonical UUID, or for every
    third one an id of another form, as a hand-written log may hold."""
    return f"m{number}" if number % 3 == 2 else str(uuid.UUID(int=number + 1))


def add(tree: MessageTree, *parents: int) -> MessageTree:
    """`tree` with a message added for each parent in turn."""
    for parent in parents:
        tree = tree.added(parent, key(len(tree)))
    return tree


class Model:
    """SPEC §8 as directly as it can be written: slow, and obviously so."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.added: list[int] = []
        self.live: set[int] = set()
        self.current = NONE

    def copy(self) -> Model:
        other = Model()
        other.parent, other.added = dict(self.parent), list(self.added)
        other.live, other.current = set(self.live), self.current
        return other

    def children(self, number: int) -> list[int]:
        return [n for n in self.added if n in self.live and self.parent[n] == number]

    def leaf_from(self, number: int) -> int:
        while children := self.children(number):
            number = children[-1]
        return number

    def add(self, parent: int) -> None:
        number = len(self.added)
        self.added.append(number)
        self.parent[number] = parent
        self.live.add(number)
        self.current = number

    def select(self, number: int) -> None:
        self.current = self.leaf_from(number)

    def remove(self, number: int, subtree: bool) -> None:
        parent = self.parent[number]
        gone = [number]
        if subtree:
            for n in gone:
                gone.extend(self.children(n))
        else:
            for child in self.children(number):
                self.parent[child] = parent
        self.live.difference_update(gone)
        if self.current not in self.live:
            self.current = self.leaf_from(parent)

    def branch(self) -> list[int]:
        path, number = [], self.current
        while number != NONE:
            path.append(number)
            number = self.parent[number]
        return path[::-1]


def check(tree: MessageTree, model: Model) -> None:
    assert len(tree) == len(model.added)
    assert tree.current == model.current
    assert list(tree.branch()) == model.branch()
    assert list(tree.live_numbers()) == [n for n in model.added if n in model.live]
    assert list(tree.children(NONE)) == model.children(NONE)
    assert tree.leaf_from(NONE) == model.leaf_from(NONE)
    for number in model.added:
        assert tree.is_live(number) == (number in model.live)
        if number in model.live:
            assert tree.parent(number) == model.parent[number]
            assert tree.siblings(number) == model.children(model.parent[number])
            assert tree.only_child(number) == (tree.siblings(number) == [number])
            assert list(tree.children(number)) == model.children(number)
            assert tree.leaf_from(number) == model.leaf_from(number)
        assert tree.number_of(key(number)) == (number if number in model.live else NONE)
        assert tree.id_of(number) == key(number)
    assert tree.depth == len(model.branch())
    compact, kept = compacted(tree)
    live = [n for n in model.added if n in model.live]
    assert kept == (None if live == model.added else live)
    renumber = {old: new for new, old in enumerate(live)} | {NONE: NONE}
    assert [renumber[n] for n in model.branch()] == list(compact.branch())
    assert [compact.id_of(renumber[n]) for n in live] == [key(n) for n in live]
    assert [compact.parent(renumber[n]) for n in live] == [renumber[model.parent[n]] for n in live]
    rebuilt = from_parts(*tree.parts())
    assert rebuilt == tree
    assert list(rebuilt.branch()) == model.branch()
    assert list(rebuilt.live_numbers()) == list(tree.live_numbers())


def step(rng: random.Random, tree: MessageTree, model: Model) -> MessageTree:
    live = sorted(model.live)
    roll = rng.random()
    if not live or roll < 0.55:  # mostly a reply to the leaf, as chats go
        parent = model.current if rng.random() < 0.7 else rng.choice([NONE, *live])
        model.add(parent)
        return add(tree, parent)
    number = rng.choice(live)
    if roll < 0.75:
        model.select(number)
        return tree.with_current(number)
    subtree = rng.random() < 0.4
    model.remove(number, subtree)
    return tree.without(number, subtree=subtree)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_operation_agrees_with_the_model(seed: int) -> None:
    rng = random.Random(seed)
    tree, model = MessageTree(), Model()
    kept: list[tuple[MessageTree, Model]] = []
    for n in range(rng.randrange(1, 120)):
        tree = step(rng, tree, model)
        check(tree, model)
        if n % 7 == 0:
            kept.append((tree, model.copy()))
    for earlier, then in kept:  # later trees added to the same arrays: these saw none of it
        check(earlier, then)


@pytest.mark.parametrize("seed", SEEDS)
def test_an_earlier_tree_grows_its_own_branch_without_touching_the_newer_one(seed: int) -> None:
    rng = random.Random(seed)
    tree, model = MessageTree(), Model()
    for _ in range(30):
        tree = step(rng, tree, model)
    older, older_model = tree, model.copy()
    for _ in range(20):
        tree = step(rng, tree, model)
    for _ in range(10):  # a second line of versions from the older tree
        older = step(rng, older, older_model)
        check(older, older_model)
    check(tree, model)


def test_a_chat_that_never_branches_is_one_branch_and_removing_a_message_closes_the_gap() -> None:
    tree = MessageTree()
    for _ in range(5):
        tree = add(tree, tree.current)
    assert list(tree.branch()) == [0, 1, 2, 3, 4]
    tree = tree.without(2)
    assert list(tree.branch()) == [0, 1, 3, 4]
    assert tree.parent(3) == 1
    assert tree.without(4).current == 3
    assert tree.without(1, subtree=True).current == 0
    assert tree.without(0, subtree=True).current == NONE


def test_regenerating_keeps_the_old_reply_as_a_sibling_and_switching_back_finds_its_leaf() -> None:
    tree = add(MessageTree(), NONE, 0, 1)  # question, answer, follow-up
    tree = add(tree, 0)  # regenerate the answer: a sibling of 1
    assert tree.siblings(3) == [1, 3]
    assert list(tree.branch()) == [0, 3]
    back = tree.with_current(1)
    assert back.current == 2  # the leaf below the old answer
    assert list(back.branch()) == [0, 1, 2]
    assert tree == add(MessageTree(), NONE, 0, 1, 0)
    assert back != tree


def test_unknown_or_removed_messages_are_refused() -> None:
    tree = add(MessageTree(), NONE, 0)
    with pytest.raises(ValueError, match="no live message"):
        add(tree, 7)
    removed = tree.without(1)
    for change in (lambda: add(removed, 1), lambda: removed.with_current(1)):
        with pytest.raises(ValueError, match="no live message 1"):
            change()
    with pytest.raises(ValueError, match="no live message 1"):
        removed.without(1)


def test_a_key_is_found_only_where_a_key_starts() -> None:
    # The id looked for is the bytes where keys 0 and 1 meet: that is no message.
    first, second, across = (
        str(uuid.UUID(bytes=raw))
        for raw in (b"\x00" * 8 + b"ab" * 4, b"cd" * 4 + b"\x00" * 8, b"ab" * 4 + b"cd" * 4)
    )
    tree = MessageTree().added(NONE, first).added(0, second)
    assert tree.number_of(across) == NONE
    assert tree.number_of(second) == 1
    assert tree.without(1).number_of(second) == NONE


def test_message_keys_are_a_uuids_bytes_or_a_digest() -> None:
    canonical = "0f0e0d0c-0b0a-4908-8706-050403020100"
    assert message_key(canonical) == bytes.fromhex(canonical.replace("-", ""))
    assert len(message_key("m1")) == KEY_SIZE
    assert message_key("m1") != message_key("m2")


def test_parts_that_are_no_tree_are_refused() -> None:
    tree = add(MessageTree(), NONE, 0, 1)
    parents, live, keys, current, named = tree.parts()
    with pytest.raises(ValueError, match="no earlier live message"):  # a reply before
        from_parts(array("i", [NONE, 2, 1]), live, keys, current, named)
    with pytest.raises(ValueError, match="no earlier live message"):  # to a removed one
        from_parts(parents, b"\x01\x00\x01", keys, current, named)
    with pytest.raises(ValueError, match="different lengths"):
        from_parts(parents, live, keys[:-1], current, named)
    with pytest.raises(ValueError, match="is not live"):
        from_parts(parents, b"\x01\x01\x00", keys, 2, named)
    with pytest.raises(ValueError, match="is not message 1's id"):
        from_parts(parents, live, keys, current, {1: "m1"})


def test_ids_differing_only_in_case_or_length_do_not_match() -> None:
    lower = str(uuid.uuid4())
    tree = MessageTree().added(NONE, lower).added(0, "ab")
    assert tree.number_of(lower) == 0
    assert tree.number_of(lower.upper()) == NONE
    assert tree.number_of("ab") == 1
    assert tree.number_of("a") == NONE
    assert tree.number_of("abc") == NONE
    assert tree.id_of(0) == lower
    assert tree.id_of(1) == "ab"


@pytest.mark.parametrize("seed", range(10))
def test_growing_in_place_makes_the_same_tree_as_growing_a_new_one_each_time(seed: int) -> None:
    rng = random.Random(seed)
    tree, model = MessageTree(), Model()
    for _ in range(20):
        tree = step(rng, tree, model)
    kept, kept_model = tree, model.copy()
    grown, in_place = tree, tree.added(tree.current, key(len(tree)))  # its own from here
    model.add(model.current)
    grown = grown.added(grown.current, key(len(grown)))
    for _ in range(30):
        parent = rng.choice([NONE, *sorted(model.live)])
        model.add(parent)
        grown = grown.added(parent, key(len(grown)))
        same = in_place.added(parent, key(len(in_place)), in_place=True)
        assert same is in_place
        check(in_place, model)
    assert in_place == grown
    check(kept, kept_model)  # the tree it grew from saw none of it
