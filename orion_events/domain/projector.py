"""Events in, views out: the pure fold that turns a log into sessions and settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import regex
from attrs import evolve

from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import (
    AT_CURRENT_LEAF,
    CurrentChanged,
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MessagesCleared,
    MetadataUpdated,
    Recorded,
    SessionCreated,
    SessionDeleted,
    SessionForked,
    SessionImported,
    SessionRenamed,
    SessionRestored,
    SettingsChanged,
    SettingsReset,
)
from orion_events.domain.tree import NONE, MessageTree, compacted
from orion_events.domain.views import (
    DEFAULT_TITLE,
    MessageList,
    MessageView,
    SessionView,
    SettingsBook,
    SettingsView,
    TitleSource,
)

# What a log folds to under these rules. Views are derived, so a rule may change (a title is
# no event); a snapshot holds views and this number, and one folded under other rules is not
# resumed from. 2: auto-titles cut at grapheme clusters, and only from text that shows.
# 3: messages form a tree (SPEC §8), and a view holds it.
RULES_VERSION = 3

AUTO_TITLE_LENGTH = 50  # user-perceived characters: extended grapheme clusters (UAX #29)
# Bounds a title made of degenerate clusters (a letter under thousands of marks, an endless ZWJ
# chain), which would otherwise be as long as its message. 50 of the longest emoji sequences
# (11 code points) stay far below it.
AUTO_TITLE_MAX_CODE_POINTS = 1000

_CLUSTER = regex.compile(r"\X")
# What shows nothing on its own: whitespace, default-ignorable code points (zero-width spaces and
# joiners, word joiner, BOM, variation selectors, Hangul fillers), format and control characters.
_VISIBLE = regex.compile(r"[^\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cf}\p{Cc}]")


def auto_title(content: str) -> str:
    """The title a user message gives an untitled session; "" when it shows nothing.

    Its text with whitespace collapsed, from the first cluster with a visible character, cut
    after 50 clusters and never inside one: no cluster is split, and one that would take the
    title past AUTO_TITLE_MAX_CODE_POINTS is left out with all after it.
    """
    text = " ".join(content.split())
    visible = _VISIBLE.search(text)
    if visible is None:
        return ""
    start = visible.start()
    if start:
        # The cluster holding it may start a little earlier, with characters that show nothing
        # (a space under a combining mark, a Hangul filler before its vowel). Where a boundary
        # falls depends only on what comes before it, so the text up to that character is
        # enough; and a cluster reaching back further than a title may be long is never taken.
        window = max(0, start - AUTO_TITLE_MAX_CODE_POINTS)
        start = start + 1 - len(_CLUSTER.findall(text, window, start + 1)[-1])
    # One code point more than a title may hold: a cluster cut short by this end is too long.
    head = text[start : start + AUTO_TITLE_MAX_CODE_POINTS + 1]
    end = 0
    for count, cluster in enumerate(_CLUSTER.finditer(head), start=1):
        if cluster.end() > AUTO_TITLE_MAX_CODE_POINTS:
            break
        end = cluster.end()
        if count == AUTO_TITLE_LENGTH:
            break
    return head[:end]


def auto_title_for(title_source: str, message: MessageAdded) -> str | None:
    """The title `message` gives a session whose title is `title_source`'s, if it gives one:
    only a user message that shows something titles a session still under the default title."""
    if title_source != "default" or message.role != "user":
        return None
    return auto_title(message.content) or None


def message_from_data(data: Mapping[str, Any]) -> MessageView:
    return MessageView(
        data["id"], data["role"], data["content"], data["timestamp"], data["agent"], data["model"]
    )


def _carried_tree(
    recorded: Recorded, event: SessionForked | SessionImported
) -> tuple[MessageList, MessageTree]:
    """The messages and tree a session starts with (a fork's, an import's). Each message names
    its parent, an earlier one of the event's (a fork from before trees names none: its
    messages are one chain)."""
    messages, tree = MessageList(), MessageTree()
    for data in event.messages:
        message = message_from_data(data)
        parent = data.get("parent_id", AT_CURRENT_LEAF)
        number = tree.current if parent is AT_CURRENT_LEAF else _parent(tree, recorded, parent)
        messages = messages.appended(message)
        tree = tree.added(number, message.id)
    if event.current_id is not AT_CURRENT_LEAF:
        current = _parent(tree, recorded, event.current_id)
        tree = tree.with_current(current) if current != NONE else MessageTree()
    return messages, tree


def _parent(tree: MessageTree, recorded: Recorded, parent_id: object) -> int:
    """The number of the live message `parent_id` names (NONE for None)."""
    if parent_id is None:
        return NONE
    number = tree.number_of(parent_id) if isinstance(parent_id, str) else NONE
    if number == NONE:
        raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: no message {parent_id!r}")
    return number


def title_source_of(event: SessionCreated | SessionForked | SessionImported) -> TitleSource:
    """Where a new session's title comes from: the fork's source, else the client's title when
    one was given, else the default until a user message names the session."""
    if isinstance(event, SessionForked):
        return event.title_source  # type: ignore[return-value]
    return "default" if event.title is None else "client"


def _first_view(recorded: Recorded) -> SessionView:
    """A session as its first event makes it: created empty, or forked or imported with the
    messages and tree the event carries."""
    event = recorded.event
    if not isinstance(event, SessionCreated | SessionForked | SessionImported):
        raise CorruptLog(
            f"{recorded.stream} seq {recorded.seq}: {event.kind} before session_created"
        )
    if isinstance(event, SessionCreated):
        messages, tree = MessageList(), MessageTree()
    else:
        messages, tree = _carried_tree(recorded, event)
    forked_from = None
    if isinstance(event, SessionForked):
        forked_from = (event.source_session, event.source_version)
    created_at = updated_at = recorded.at
    title = DEFAULT_TITLE if event.title is None else event.title
    title_source = title_source_of(event)
    if isinstance(event, SessionImported):
        # An import lives when its source says, and is listed among the chats of that time, not
        # above everything as if it had just been written.
        created_at = event.created_at
        updated_at = max([created_at, *(m["timestamp"] for m in event.messages)])
        if event.title is None:  # named by its first user message, as a chat here would be
            named = _first_user_title(messages)
            title, title_source = (named, "auto") if named else (title, title_source)
    return SessionView(
        id=recorded.stream,
        created_at=created_at,
        updated_at=updated_at,
        version=recorded.seq,
        title=title,
        title_source=title_source,
        metadata=dict(event.metadata),
        messages=messages,
        forked_from=forked_from,
        tree=tree,
        owner=event.owner,
    )


def _first_user_title(messages: MessageList) -> str:
    for message in messages:
        if message.role == "user" and (named := auto_title(message.content)):
            return named
    return ""


class _Draft:
    """A session being folded: one mutable accumulator per replay, frozen into a view once.

    `apply_session` and `replay_session` share it, so the rules are written once; a replay
    builds a single SessionView at the end instead of one per event.
    """

    __slots__ = (
        "created_at",
        "deleted",
        "forked_from",
        "id",
        "messages",
        "metadata",
        "owner",
        "title",
        "title_source",
        "tree",
        "tree_owned",
        "updated_at",
        "version",
    )

    def __init__(self, view: SessionView) -> None:
        self.id, self.created_at, self.forked_from = view.id, view.created_at, view.forked_from
        self.updated_at, self.version, self.deleted = view.updated_at, view.version, view.deleted
        self.title, self.title_source = view.title, view.title_source
        self.metadata, self.messages, self.tree = view.metadata, view.messages, view.tree
        self.owner = view.owner
        # Whether `tree` is this draft's alone (made by it, in no view yet): then it grows in
        # place, as a replay adds message after message, instead of a new tree each time.
        self.tree_owned = False

    def apply(self, recorded: Recorded) -> None:
        """One more event. A cold draft (no messages) keeps only its summary current."""
        event = recorded.event
        self.version, self.updated_at = recorded.seq, recorded.at
        messages = self.messages
        match event:
            case MessageAdded():
                parent = event.parent_id
                tree = self.tree
                number = (
                    tree.current if parent is AT_CURRENT_LEAF else _parent(tree, recorded, parent)
                )
                self.tree = tree.added(number, event.message_id, in_place=self.tree_owned)
                self.tree_owned = True
                if messages is not None:
                    self.messages = messages.appended(
                        MessageView(
                            event.message_id,
                            event.role,
                            event.content,
                            recorded.at,
                            event.agent,
                            event.model,
                        )
                    )
                auto = auto_title_for(self.title_source, event)
                if auto is not None:
                    self.title, self.title_source = auto, "auto"
            case MessageEdited():
                number = self._number(recorded, event.message_id)
                if messages is not None:
                    edited = attrs.evolve(messages[number], content=event.content)
                    self.messages = messages.replaced(number, edited)
            case MessageDeleted():
                number = self._number(recorded, event.message_id)
                if event.subtree is True:
                    below = [self.tree.id_of(n) for n in self.tree.below(number)]
                    if below != list(event.replies):
                        raise CorruptLog(
                            f"{recorded.stream} seq {recorded.seq}: the replies removed are not "
                            f"those below {event.message_id}"
                        )
                self.tree = self.tree.without(number, subtree=event.subtree is True)
                self.tree_owned = True
            case CurrentChanged():
                self.tree = self.tree.with_current(self._number(recorded, event.message_id))
                self.tree_owned = True
            case SessionRenamed():
                self.title, self.title_source = event.title, "client"
            case MetadataUpdated():
                self.metadata = dict(event.metadata)
            case MessagesCleared():
                self.tree = MessageTree()
                if messages is not None:
                    self.messages = MessageList()
            case SessionDeleted():
                self.deleted = True
            case SessionRestored():
                self.deleted = False
            case SessionCreated() | SessionForked() | SessionImported():
                raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: a second first event")
            case _:
                raise CorruptLog(
                    f"{recorded.stream} seq {recorded.seq}: {event.kind} is no session event"
                )

    def _number(self, recorded: Recorded, message_id: str) -> int:
        number = _parent(self.tree, recorded, message_id)
        if number == NONE:  # None names no message here
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: no message {message_id}")
        return number

    def view(self) -> SessionView:
        self.tree_owned = False  # the view holds it now
        return SessionView(
            self.id,
            self.created_at,
            self.updated_at,
            self.version,
            self.title,
            self.title_source,
            self.metadata,
            self.messages,
            self.deleted,
            self.forked_from,
            self.tree,
            self.owner,
        )


def apply_session(view: SessionView | None, recorded: Recorded) -> SessionView:
    """The session as it stands after one more event."""
    if view is None:
        return _first_view(recorded)
    draft = _Draft(view)
    draft.apply(recorded)
    return draft.view()


def replay_session(
    records: Iterable[Recorded], start: SessionView | None = None
) -> SessionView | None:
    """Fold a session's events, in order, onto `start` (None: from its first event)."""
    fold = SessionFold(start)
    fold.add(records)
    return fold.view()


class SessionFold:
    """`replay_session` over events that come in pieces (a long log read page by page): one
    draft for the whole fold, so the pieces cost what one replay of them all would."""

    __slots__ = ("_draft",)

    def __init__(self, start: SessionView | None = None) -> None:
        self._draft = None if start is None else _Draft(start)

    def add(self, records: Iterable[Recorded]) -> None:
        draft = self._draft
        for recorded in records:
            if draft is None:
                draft = self._draft = _Draft(_first_view(recorded))
            else:
                draft.apply(recorded)

    def view(self) -> SessionView | None:
        """The session as the events so far leave it (None before its first)."""
        draft = self._draft
        if draft is None:
            return None
        tree, kept = compacted(draft.tree)  # removed messages are left out of what is held
        draft.tree = tree
        if draft.messages is not None:
            messages = draft.messages
            # held for long: no growth slack
            draft.messages = messages.compacted() if kept is None else messages.kept(kept)
        return draft.view()


def apply_settings(book: SettingsBook, recorded: Recorded) -> SettingsBook:
    """The settings after one more event: the user's it names changed, and the log's version."""
    event = recorded.event
    match event:
        case SettingsChanged():
            view = book.of(event.user_id).with_changes(event.changes)
        case SettingsReset():
            view = SettingsView()
        case _:
            raise CorruptLog(f"settings seq {recorded.seq}: {event.kind} is no settings event")
    if event.user_id is not None and not isinstance(event.user_id, str):
        raise CorruptLog(f"settings seq {recorded.seq}: a user id that is no text")
    view = evolve(view, version=recorded.seq, updated_at=recorded.at)
    return book.with_settings(event.user_id, view, recorded.seq)


def replay_settings(records: Iterable[Recorded], start: SettingsBook | None = None) -> SettingsBook:
    book = SettingsBook() if start is None else start
    for recorded in records:
        book = apply_settings(book, recorded)
    return book
