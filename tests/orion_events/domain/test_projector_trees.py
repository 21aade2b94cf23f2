"""Conversation trees in the projector alone (SPEC §8): the cases a chat front end meets, by
hand, then random sequences of them against a plain model and the invariants of the tree."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orion_events.domain.branches import fork_messages
from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import (
    CurrentChanged,
    Event,
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MessagesCleared,
    Recorded,
    SessionCreated,
    SessionForked,
    SessionImported,
)
from orion_events.domain.projector import SessionFold, apply_session, replay_session
from orion_events.domain.views import DEFAULT_TITLE, SessionView
from orion_events.storage import codec
from service.payloads import event_json, message_json, session_json

STREAM = "00000000-0000-4000-8000-0000000000aa"


def recorded(events: list[Event], stream: str = STREAM) -> list[Recorded]:
    return [
        Recorded(stream, seq, f"e{seq}", f"2025-01-01T00:00:{seq % 60:02d}.{seq:06d}Z", event)
        for seq, event in enumerate(events, start=1)
    ]


def next_record(view: SessionView, event: Event) -> Recorded:
    seq = view.version + 1
    return Recorded(view.id, seq, f"e{seq}", "2025-01-02T00:00:00.000000Z", event)


def replay(*events: Event) -> SessionView:
    view = replay_session(recorded([SessionCreated(None, {}), *events]))
    assert view is not None
    return view


def say(message_id: str, parent: str | None, role: str = "user") -> MessageAdded:
    return MessageAdded(message_id, role, f"text of {message_id}", parent_id=parent)


def shape(view: SessionView) -> tuple[list[str], str | None, dict[str, tuple[Any, list[str]]]]:
    """The current branch's ids, current_id, and each branch message's parent and siblings, as
    the API shows them."""
    body = session_json(view)
    links = {m["id"]: (m["parent_id"], m["sibling_ids"]) for m in body["messages"]}
    assert body["message_count"] == len(body["messages"])
    return [m["id"] for m in body["messages"]], body["current_id"], links


def test_a_chat_that_never_branches_is_one_branch() -> None:
    view = replay(say("q1", None), say("a1", "q1", "assistant"), say("q2", "a1"))
    ids, current, links = shape(view)
    assert ids == ["q1", "a1", "q2"]
    assert current == "q2"
    assert links == {"q1": (None, ["q1"]), "a1": ("q1", ["a1"]), "q2": ("a1", ["q2"])}


def test_an_old_line_without_parent_replies_to_the_current_leaf() -> None:
    old = [MessageAdded(f"m{n}", "user", "x") for n in range(3)]  # no parent_id: the old form
    view = replay(*old)
    assert shape(view)[0] == ["m0", "m1", "m2"]
    # after a branch switch, a parentless line still follows the *current* leaf
    view = replay(say("q", None), say("a", "q"), say("b", "q"), CurrentChanged("a"), old[0])
    assert shape(view)[0] == ["q", "a", "m0"]


def test_regenerate_keeps_the_old_reply_as_a_sibling() -> None:
    view = replay(say("q", None), say("a1", "q", "assistant"), say("a2", "q", "assistant"))
    ids, current, links = shape(view)
    assert ids == ["q", "a2"]
    assert current == "a2"
    assert links["a2"] == ("q", ["a1", "a2"])


def test_edit_and_resend_branches_at_the_edited_messages_parent() -> None:
    view = replay(say("q1", None), say("a1", "q1"), say("q2", "a1"), say("a2", "q2"))
    view = apply_session(view, next_record(view, say("q2b", "a1")))  # q2 edited and resent
    ids, _, links = shape(view)
    assert ids == ["q1", "a1", "q2b"]
    assert links["q2b"] == ("a1", ["q2", "q2b"])
    edited_first = replay(say("q1", None), say("q1b", None))  # an edited first message
    assert shape(edited_first)[2]["q1b"] == (None, ["q1", "q1b"])


def test_switching_follows_the_most_recent_reply_down_to_a_leaf() -> None:
    events = [say("q", None), say("a1", "q"), say("f1", "a1"), say("f2", "a1"), say("a2", "q")]
    view = replay(*events, CurrentChanged("a1"))
    assert shape(view)[:2] == (["q", "a1", "f2"], "f2")
    view = replay(*events, CurrentChanged("f1"))
    assert shape(view)[:2] == (["q", "a1", "f1"], "f1")
    view = replay(*events, CurrentChanged("q"))  # the root: its newest reply, a2
    assert shape(view)[:2] == (["q", "a2"], "a2")


def test_deleting_a_branch_point_moves_its_replies_up_in_order() -> None:
    view = replay(
        say("q", None), say("a1", "q"), say("x", "a1"), say("y", "a1"), say("a2", "q"),
        CurrentChanged("x"), MessageDeleted("a1"),
    )  # fmt: skip
    ids, current, links = shape(view)
    assert (ids, current) == (["q", "x"], "x")
    assert links["x"] == ("q", ["x", "y", "a2"])  # the replies join a2 in the order added


def test_deleting_a_subtree_that_holds_the_current_leaf() -> None:
    view = replay(
        say("q", None), say("a1", "q"), say("a2", "q"), say("f", "a2"),
        MessageDeleted("a2", subtree=True, replies=["f"]),
    )  # fmt: skip
    ids, current, links = shape(view)
    assert (ids, current) == (["q", "a1"], "a1")  # the parent's most recent remaining leaf
    assert links["a1"] == ("q", ["a1"])
    only_root = replay(say("q", None), say("a", "q"), MessageDeleted("a", subtree=True))
    assert shape(only_root)[:2] == (["q"], "q")
    nothing = replay(
        say("q", None), say("a", "q"), MessageDeleted("q", subtree=True, replies=["a"])
    )
    assert shape(nothing)[:2] == ([], None)


def test_a_subtree_delete_must_name_what_it_removed() -> None:
    with pytest.raises(CorruptLog, match="replies removed"):
        replay(say("q", None), say("a", "q"), MessageDeleted("q", subtree=True))


def test_clear_removes_every_branch() -> None:
    view = replay(say("q", None), say("a1", "q"), say("a2", "q"), MessagesCleared())
    assert shape(view)[:2] == ([], None)
    view = apply_session(view, next_record(view, say("n", None)))
    assert shape(view)[:2] == (["n"], "n")


@pytest.mark.parametrize("bad", ["nope", 7, {"id": "q"}])
def test_a_parent_that_names_no_live_message_is_a_corrupt_log(bad: object) -> None:
    with pytest.raises(CorruptLog):
        replay(say("q", None), MessageDeleted("q"), say("a", bad))  # type: ignore[arg-type]


def fork_of(source: SessionView, up_to: str | None) -> SessionView:
    messages, current = fork_messages(source, up_to)
    event = SessionForked("t", "client", {}, messages, source.id, source.version, current)
    view = replay_session(recorded([event], "00000000-0000-4000-8000-0000000000bb"))
    assert view is not None
    return view


def test_a_fork_by_message_holds_its_branch_and_by_version_the_whole_tree() -> None:
    source = replay(say("q", None), say("a1", "q"), say("a2", "q"), say("f", "a1"))
    by_message = fork_of(source, "a1")
    assert shape(by_message)[:2] == (["q", "a1"], "a1")
    assert [m.id for m in by_message.loaded_messages] == ["q", "a1"]
    whole = fork_of(source, None)
    assert whole.tree == source.tree
    assert shape(whole) == shape(source)


def test_a_fork_from_before_trees_is_one_chain() -> None:
    messages = [
        {"id": f"m{n}", "role": "user", "content": "x", "timestamp": "2025-01-01T00:00:00.000000Z",
         "agent": None, "model": None}
        for n in range(3)
    ]  # fmt: skip
    event = SessionForked("t", "client", {}, messages, STREAM, 3)
    view = replay_session(recorded([event]))
    assert view is not None
    assert shape(view)[:2] == (["m0", "m1", "m2"], "m2")


# -- random sequences ------------------------------------------------------------------------------


class Model:
    """SPEC §8 by ids, directly: every live message's parent, the order added, the current."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.order: list[str] = []
        self.current: str | None = None

    def children(self, message_id: str | None) -> list[str]:
        return [m for m in self.order if self.parent[m] == message_id]

    def leaf_from(self, message_id: str | None) -> str | None:
        while children := self.children(message_id):
            message_id = children[-1]
        return message_id

    def below(self, message_id: str) -> list[str]:
        found = self.children(message_id)
        for m in found:
            found.extend(self.children(m))
        return found

    def event(self, command: tuple[Any, ...], fresh: str) -> Event | None:
        """The event a command decides on, applied here; None when it decides nothing."""
        kind, pick, flag = command
        live = self.order
        target = live[pick % len(live)] if live else None
        if kind == "add" or target is None:
            parent = self.current if flag or target is None else target
            if kind == "add" and pick % 5 == 0:
                parent = None
            self.parent[fresh] = parent
            self.order.append(fresh)
            self.current = fresh
            return MessageAdded(fresh, "user", fresh, parent_id=parent)
        if kind == "switch":
            self.current = self.leaf_from(target)
            return CurrentChanged(target)
        if kind == "edit":
            return MessageEdited(target, f"edited {fresh}")
        if kind == "clear":
            self.parent, self.order, self.current = {}, [], None
            return MessagesCleared()
        parent = self.parent[target]
        gone = [target, *self.below(target)] if flag else [target]
        for child in self.children(target):
            if not flag:
                self.parent[child] = parent
        self.order = [m for m in self.order if m not in gone]
        for m in gone:
            del self.parent[m]
        if self.current in gone:
            self.current = self.leaf_from(parent)
        return MessageDeleted(target, subtree=flag, replies=gone[1:] if flag else ())

    def branch(self) -> list[str]:
        path, at = [], self.current
        while at is not None:
            path.append(at)
            at = self.parent[at]
        return path[::-1]


def check_invariants(view: SessionView, model: Model) -> None:
    ids, current, links = shape(view)
    everything = {m.id: m for m in (view.loaded_messages[n] for n in view.tree.live_numbers())}
    assert list(everything) == model.order
    for message_id in everything:  # every parent_id names a live message
        number = view.number_of(message_id)
        assert number is not None
        parent = view.tree.parent(number)
        assert parent == -1 or view.tree.id_of(parent) in everything
    # the current branch: a root-to-leaf path ending at current_id
    assert ids == model.branch()
    assert current == model.current
    assert not ids or links[ids[0]][0] is None
    for above, below in itertools.pairwise(ids):
        assert links[below][0] == above
    assert current is None or model.children(current) == []
    for number in view.tree.live_numbers():  # every message's siblings: its parent's children
        message = message_json(view, number)
        assert message["sibling_ids"] == model.children(message["parent_id"])
        assert message["parent_id"] == model.parent[message["id"]]


COMMAND = st.tuples(
    st.sampled_from(["add", "add", "add", "switch", "delete", "edit", "clear"]),
    st.integers(0, 1000),
    st.booleans(),
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(COMMAND, min_size=10, max_size=60))
def test_random_commands_keep_the_tree_whole_and_replay_to_the_same_view(
    commands: list[tuple[Any, ...]],
) -> None:
    model = Model()
    events: list[Event] = [SessionCreated(None, {})]
    view = replay_session(recorded(events))
    for n, command in enumerate(commands):
        event = model.event(command, f"m{n}" if n % 2 else f"00000000-0000-4000-8000-{n:012d}")
        if event is None:
            continue
        events.append(event)
        assert view is not None
        view = apply_session(view, recorded(events)[-1])
        check_invariants(view, model)
    # the log, as lines and read back, replays to the view the commands built one by one
    prev, lines = codec.GENESIS, []
    for one in recorded(events):
        line, prev = codec.encode(one, prev)
        lines.append(line)
    result = codec.scan(b"".join(lines), STREAM)
    assert result.damage is None
    # (a replay leaves removed messages out; the view built one event at a time, until folded)
    assert replay_session(result.records) == SessionFold(view).view()
    assert view is not None
    if view.current_id is not None:  # forks of the whole tree and of the current branch
        assert shape(fork_of(view, None)) == shape(view)
        assert shape(fork_of(view, view.current_id))[:2] == shape(view)[:2]


# -- the golden log with branches ------------------------------------------------------------------

GOLDEN_TREES = Path(__file__).resolve().parents[2] / "fixtures" / "golden-trees"


def golden_trees_replay() -> dict[str, Any]:
    """Each session of the branched fixture as the API shows it, with every message of every
    branch, and its events."""
    sessions, events = {}, {}
    for path in sorted((GOLDEN_TREES / "var" / "sessions").glob("*.jsonl")):
        result = codec.scan(path.read_bytes(), path.stem)
        assert result.damage is None
        view = replay_session(result.records)
        assert view is not None
        every = [message_json(view, n) for n in view.tree.live_numbers()]
        sessions[view.id] = {**session_json(view), "deleted": view.deleted, "every": every}
        events[view.id] = [event_json(r) for r in result.records]
    return {"sessions": sessions, "events": events}


def test_golden_log_with_branches_replays_to_the_committed_views() -> None:
    """Regenerates, edits and resends, switches, deletes of one message and of a branch, forks
    of a branch and of a version, a clear: written once by the store, never regenerated, and
    replayed to the same views forever."""
    got = golden_trees_replay()
    assert got == orjson.loads((GOLDEN_TREES / "expected.json").read_bytes())
    # What an auditor would check by hand, so the expected file is not taken on trust.
    chat = got["sessions"]["00000000-0000-4000-8000-000000000201"]
    # the pruned branch held the current leaf: the newest root's newest leaf took its place
    assert [m["content"] for m in chat["messages"]] == [
        "What is a fork?",
        "And a merge?",
        "Two lines joined.",
        "Still here?",
    ]
    q1 = chat["messages"][0]["id"]
    every = {m["content"]: m for m in chat["every"]}
    merge, a1 = every["And a merge?"], every["A copy that goes its own way (edited)."]
    assert merge["parent_id"] == q1  # moved up when its parent went
    assert merge["sibling_ids"] == [a1["id"], merge["id"]]
    assert "What is a branch?" not in every  # pruned with its branch
    fork_of_branch = got["sessions"]["00000000-0000-4000-8000-000000000218"]
    assert [m["content"] for m in fork_of_branch["every"]] == [
        "What is a fork?",
        "A copy that goes its own way (edited).",
    ]
    fork_of_version = got["sessions"]["00000000-0000-4000-8000-00000000021a"]
    assert len(fork_of_version["every"]) == 5
    assert fork_of_version["current_id"] == fork_of_version["messages"][-1]["id"]
    cleared = got["sessions"]["00000000-0000-4000-8000-00000000021c"]
    assert [m["content"] for m in cleared["every"]] == ["after the clear"]


def test_an_imported_conversation_is_its_whole_tree_with_its_own_times() -> None:
    """SPEC §10: one event holds the conversation; the messages keep their timestamps and the
    session the time the source says it began."""
    at = "2024-03-01T08:00:00.000000Z"
    messages = [
        {"id": i, "role": r, "content": i, "timestamp": f"2024-03-01T08:0{n}:00.000000Z",
         "agent": None, "model": m, "parent_id": p}
        for n, (i, r, m, p) in enumerate(
            [("q", "user", None, None), ("a1", "assistant", "gpt-4", "q"),
             ("a2", "assistant", "gpt-4o", "q"), ("f", "user", None, "a1")]
        )
    ]  # fmt: skip
    event = SessionImported(
        "From ChatGPT", {"imported_from": "chatgpt", "source_id": "c-1"}, messages, "a2",
        at, "chatgpt", "c-1",
    )  # fmt: skip
    view = replay_session(recorded([event]))
    assert view is not None
    ids, current, links = shape(view)
    assert (ids, current) == (["q", "a2"], "a2")  # the source's current branch
    assert links["a2"] == ("q", ["a1", "a2"])
    assert view.created_at == at
    # listed among the chats of its time: updated when its newest message was written
    assert view.updated_at == "2024-03-01T08:03:00.000000Z"
    assert [m.timestamp for m in view.live_messages] == [m["timestamp"] for m in messages]
    assert [m.model for m in view.live_messages] == [None, "gpt-4", "gpt-4o", None]
    assert (view.title, view.title_source) == ("From ChatGPT", "client")
    assert dict(view.metadata) == {"imported_from": "chatgpt", "source_id": "c-1"}
    untitled = replay_session(recorded([attrs.evolve(event, title=None)]))
    assert untitled is not None  # named by its first user message, as a chat here would be
    assert (untitled.title, untitled.title_source) == ("q", "auto")
    unnamed = [{**m, "content": " "} if m["role"] == "user" else m for m in messages]
    shown = replay_session(recorded([attrs.evolve(event, title=None, messages=unnamed)]))
    assert shown is not None
    assert (shown.title, shown.title_source) == (DEFAULT_TITLE, "default")
    with pytest.raises(CorruptLog, match="a second first event"):
        replay_session(recorded([event, event]))
