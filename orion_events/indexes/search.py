"""Full-text search over session titles and messages: an inverted index fed committed events.

The parts: search_terms (the tokenizer, packed term lists, the vocabulary), search_postings
(messages as records and the postings of their terms), search_sessions (a session's messages
in order, by id) and search_query (matching and ranking).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import assert_never

from orion_events.domain.errors import CorruptLog, InvalidInput
from orion_events.domain.events import (
    AdminRead,
    CurrentChanged,
    KeyIssued,
    KeyRevoked,
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
    SessionPurged,
    SessionRenamed,
    SessionRestored,
    SettingsChanged,
    SettingsReset,
    UserCreated,
    UserDisabled,
)
from orion_events.domain.ids import is_canonical, message_key
from orion_events.domain.projector import auto_title_for, title_source_of
from orion_events.domain.views import SessionView
from orion_events.indexes.search_postings import MessagePostings
from orion_events.indexes.search_query import Query, SearchHit, SearchPage, Titles
from orion_events.indexes.search_sessions import IndexedSession
from orion_events.indexes.search_terms import Vocabulary, term_counts, tokenize

__all__ = ["SearchHit", "SearchIndex", "SearchPage", "tokenize"]


class SearchIndex:
    """Sessions found by words in their title or messages, kept current one event at a time.

    Message postings are append-only arrays of message records (search_postings), titles map
    each term to {session: count}, so an update touches only the changed message's terms and
    never rehashes a posting. Removed messages are marked dead and skipped by queries until
    compaction drops them. Deleted sessions keep their postings (restore is O(1)) and are
    skipped when a query runs; they still count in the idf statistics.
    """

    __slots__ = (
        "_message_count",
        "_messages",
        "_numbered",
        "_sessions",
        "_titled",
        "_titles",
        "_vocabulary",
    )

    def __init__(self) -> None:
        self._sessions: dict[str, IndexedSession] = {}
        self._numbered: list[IndexedSession] = []  # by number, as message records name them
        self._titles: Titles = {}
        self._messages = MessagePostings(self._new_message_term)
        self._vocabulary = Vocabulary(self._messages, self._titles)
        self._message_count = 0
        self._titled = 0  # sessions whose title is indexed: with messages, the idf's documents

    def apply(self, recorded: Recorded) -> None:
        """Bring the index up to date with one committed event; events arrive in log order."""
        event = recorded.event
        match event:
            case SessionCreated():
                # No title: the default one, which is no words a user would search for.
                session = self._new_session(
                    recorded, "default" if event.title is None else "client"
                )
                if event.title is not None:
                    self._set_title(session, event.title)
            case SessionForked() | SessionImported():
                source = title_source_of(event)  # the projector's rule
                session = self._new_session(recorded, source)
                if source != "default" and event.title is not None:
                    self._set_title(session, event.title)
                for data in event.messages:
                    self._add_message(session, data["id"], data["content"])
            case MessageAdded():
                session = self._session(recorded)
                self._add_message(session, event.message_id, event.content)
                title = auto_title_for(session.title_source, event)  # the projector's rule
                if title is not None:
                    session.title_source = "auto"
                    self._set_title(session, title)
            case MessageEdited():
                session = self._session(recorded)
                at = self._position(session, recorded, event.message_id)
                old = session.records[at]
                order = self._messages.orders[old]  # read before removal reuses the field
                self._unindex(session, old)
                # A new record in the old one's place: its postings still hold the dead one.
                session.records[at] = self._index(session, order, event.content)
                self._messages.tidy(session.number, session.records)
            case MessageDeleted():
                session = self._session(recorded)
                for message_id in (event.message_id, *event.replies):
                    at = self._position(session, recorded, message_id)
                    self._unindex(session, session.records[at])
                    session.remove(at)
                    self._message_count -= 1
                self._messages.tidy(session.number, session.records)
            case MessagesCleared():
                session = self._session(recorded)
                for record in session.records:
                    self._unindex(session, record)
                self._message_count -= len(session.records)
                session.clear()
                self._messages.tidy(session.number, session.records)
            case SessionRenamed():
                session = self._session(recorded)
                session.title_source = "client"
                self._set_title(session, event.title)
            case SessionDeleted():
                self._session(recorded).deleted = True
            case SessionRestored():
                self._session(recorded).deleted = False
            case (
                MetadataUpdated()
                | CurrentChanged()
                | SettingsChanged()
                | SettingsReset()
                | SessionPurged()
                | UserCreated()
                | KeyIssued()
                | KeyRevoked()
                | UserDisabled()
                | AdminRead()
            ):
                pass
            case _:
                assert_never(event)

    def add_view(self, view: SessionView) -> None:
        """Index a session as its view stands: builds the index from views, not from events."""
        if view.messages is None:
            raise ValueError(f"{view.id} is cold: load its messages before indexing it")
        if view.id in self._sessions:
            raise CorruptLog(f"{view.id}: indexed twice")
        session = self._register(view.id, view.title_source)
        session.deleted = view.deleted
        if view.title_source != "default":
            self._set_title(session, view.title)
        for message_id, content in view.messages.ids_and_contents(view.tree.live_numbers()):
            self._add_message(session, message_id, content)

    def search(
        self,
        query: str,
        *,
        limit: int = 20,
        offset: int = 0,
        visible: Callable[[str], bool] | None = None,
    ) -> SearchPage:
        """Sessions holding every query word (the last also as a prefix), best first; only
        those whose id `visible` takes, when given."""
        if limit < 0:
            raise InvalidInput("limit must not be negative", field="limit")
        if offset < 0:
            raise InvalidInput("offset must not be negative", field="offset")
        documents = self._message_count + self._titled
        return Query(
            self._messages, self._titles, self._numbered, self._vocabulary, documents
        ).page(tokenize(query), limit, offset, visible)

    def stats(self) -> dict[str, int]:
        """What the index holds: sessions, live messages, terms and postings."""
        return {
            "sessions": len(self._sessions),
            "messages": self._message_count,
            **self._messages.stats(),
        }

    # --- updates -------------------------------------------------------------------------------

    def _register(self, session_id: str, title_source: str) -> IndexedSession:
        session = IndexedSession(session_id, len(self._numbered), title_source)
        self._sessions[session_id] = session
        self._numbered.append(session)
        return session

    def _new_session(self, recorded: Recorded, title_source: str) -> IndexedSession:
        if recorded.stream in self._sessions:
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: a second first event")
        return self._register(recorded.stream, title_source)

    def _session(self, recorded: Recorded) -> IndexedSession:
        session = self._sessions.get(recorded.stream)
        if session is None:
            raise CorruptLog(
                f"{recorded.stream} seq {recorded.seq}: {recorded.type} before session_created"
            )
        return session

    def _position(self, session: IndexedSession, recorded: Recorded, message_id: str) -> int:
        at = session.position(message_key(message_id))
        if at is None:
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: no message {message_id}")
        return at

    def _add_message(self, session: IndexedSession, message_id: str, content: str) -> None:
        key, odd = message_key(message_id), not is_canonical(message_id)
        old = session.position(key)
        if old is not None:  # ids are unique per session; should one repeat, the newest wins
            self._unindex(session, session.records[old])
            session.remove(old)
            self._message_count -= 1
            self._messages.tidy(session.number, session.records)
        record = self._index(session, session.next_order, content)
        session.next_order += 1
        session.append(record, key, message_id if odd else None)
        self._message_count += 1

    def _index(self, session: IndexedSession, order: int, content: str) -> int:
        counts = term_counts(content)
        session.message_terms += len(counts)
        return self._messages.add(session.number, order, counts)

    def _unindex(self, session: IndexedSession, record: int) -> None:
        session.message_terms -= self._messages.remove(record)

    def _set_title(self, session: IndexedSession, title: str) -> None:
        titles = self._titles
        for term in session.title_terms:
            old = titles[term]
            del old[session]
            if not old:
                del titles[term]
        if session.title_terms:
            self._titled -= 1
        # Interned: one string per term however many sessions' titles hold it.
        counts = {sys.intern(term): count for term, count in term_counts(title).items()}
        session.title_terms = tuple(counts)
        if counts:
            self._titled += 1
        for term, count in counts.items():
            posting = titles.get(term)
            if posting is None:
                posting = titles[term] = {}
                if term not in self._messages:
                    self._vocabulary.add(term)
            posting[session] = count

    def _new_message_term(self, term: str) -> None:
        if term not in self._titles:
            self._vocabulary.add(term)
