"""Full-text search over session titles and messages: an inverted index fed committed events."""

from __future__ import annotations

import heapq
import math
import re
import sys
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Sequence
from typing import assert_never

from attrs import define, field, frozen

from orion_events.errors import CorruptLog, InvalidInput
from orion_events.events import (
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MessagesCleared,
    MetadataUpdated,
    Recorded,
    SessionCreated,
    SessionDeleted,
    SessionForked,
    SessionPurged,
    SessionRenamed,
    SessionRestored,
    SettingsChanged,
    SettingsReset,
)
from orion_events.projector import auto_title_for
from orion_events.views import SessionView

TITLE_WEIGHT = 3.0  # one title hit counts as much as three single-hit messages
PREFIX_WEIGHT = 0.5  # "eve" finding "events" ranks below a session holding the word "eve"
HIT_MESSAGES = 5  # message ids a hit carries, enough to show where the words are
# A message posting is compacted once its dead entries outnumber its live ones (and are at least
# COMPACT_MIN); each removal pays for COMPACT_STEP entries of that work, so compaction keeps up
# (a compaction reads fewer than twice the dead entries it drops) without any one update
# reading a whole large posting.
COMPACT_MIN = 16
COMPACT_STEP = 4
_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Casefolded word tokens. NFKC after casefolding so a decomposed "É" (E + U+0301, as macOS
    keyboards send it) and full-width letters give the same token as their composed forms."""
    folded = text.casefold()
    if not folded.isascii():  # ASCII is its own NFKC form: most messages skip the pass
        folded = unicodedata.normalize("NFKC", folded)
    return _WORD.findall(folded)


@frozen
class SearchHit:
    session_id: str
    score: float
    title_match: bool
    message_ids: tuple[str, ...]  # matching messages in session order, at most HIT_MESSAGES


@frozen
class SearchPage:
    hits: list[SearchHit]
    total: int  # every matching session, not just this page


# The records below are the index's own mutable state, never handed out, so they are not frozen.
# eq=False keeps identity hashing: they are the keys of the postings, cheaper than id strings.


@define(eq=False)
class _Session:
    id: str
    title_source: str
    title_terms: tuple[str, ...] = ()
    deleted: bool = False
    messages: dict[str, _Message] = field(factory=dict)  # by id; insertion order is session order
    next_order: int = 0
    message_terms: int = 0  # postings its messages hold: the cost of matching it term by term


@define(eq=False)
class _Message:
    """One indexed version of a message: an edit indexes a new record and kills this one."""

    session: _Session
    id: str
    order: int  # place in its session, for listing a hit's messages in session order
    # Distinct terms, so removal touches only this message's postings, and how often each occurs
    # (bytes while every count fits in one). A record left in postings with no terms is dead.
    terms: tuple[str, ...] = ()
    counts: Sequence[int] = b""


@define(eq=False)
class _Posting:
    """The messages holding one term, append-only: removing a message kills its record, which
    readers skip, and compaction drops dead records a bounded step at a time."""

    messages: list[_Message] = field(factory=list)
    counts: array[int] = field(factory=lambda: array("I"))  # the term's count in each message
    live: int = 0  # records not dead: the term's document frequency
    pending: bool = False  # queued for compaction, or part way through one
    read: int = 0  # compaction cursor: records before `read` are done, those kept before `write`
    write: int = 0


@define(eq=False)
class _Found:
    """One session's running match while a query is evaluated."""

    score: float = 0.0
    title_match: bool = False
    messages: list[_Message] = field(factory=list)


class SearchIndex:
    """Sessions found by words in their title or messages, kept current one event at a time.

    Message postings are append-only lists of message records, titles map each term to
    {session: count}, so an update touches only the changed message's terms and never rehashes
    a posting. Removed messages are marked dead and skipped by queries until compaction drops
    them. Deleted sessions keep their postings (restore is O(1)) and are skipped when a query
    runs; they still count in the idf statistics.
    """

    __slots__ = (
        "_compactions",
        "_fresh",
        "_message_count",
        "_messages",
        "_sessions",
        "_titled",
        "_titles",
        "_vocabulary",
    )

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._messages: dict[str, _Posting] = {}
        self._titles: dict[str, dict[_Session, int]] = {}
        # Sorted terms for prefix lookup. New terms wait in _fresh and are merged when a query
        # needs them, so an update never pays for an insort into a large list; dead terms stay
        # until a compaction and are skipped when read.
        self._vocabulary: list[str] = []
        self._fresh: list[str] = []
        self._message_count = 0
        self._titled = 0  # sessions whose title is indexed: with messages, the idf's documents
        self._compactions: deque[_Posting] = deque()  # postings waiting to be compacted

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
            case SessionForked():
                session = self._new_session(recorded, event.title_source)
                if event.title_source != "default":
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
                old = self._message(session, recorded, event.message_id)
                self._unindex(old)
                # A new record in the old one's place: its postings still hold the dead one.
                message = _Message(session, old.id, old.order)
                session.messages[message.id] = message
                self._index(message, event.content)
            case MessageDeleted():
                session = self._session(recorded)
                message = self._message(session, recorded, event.message_id)
                self._unindex(message)
                del session.messages[message.id]
                self._message_count -= 1
            case MessagesCleared():
                session = self._session(recorded)
                for message in session.messages.values():
                    self._unindex(message)
                self._message_count -= len(session.messages)
                session.messages.clear()
            case SessionRenamed():
                session = self._session(recorded)
                session.title_source = "client"
                self._set_title(session, event.title)
            case SessionDeleted():
                self._session(recorded).deleted = True
            case SessionRestored():
                self._session(recorded).deleted = False
            case MetadataUpdated() | SettingsChanged() | SettingsReset() | SessionPurged():
                pass
            case _:
                assert_never(event)

    def add_view(self, view: SessionView) -> None:
        """Index a session as its view stands: builds the index from views, not from events."""
        if view.messages is None:
            raise ValueError(f"{view.id} is cold: load its messages before indexing it")
        if view.id in self._sessions:
            raise CorruptLog(f"{view.id}: indexed twice")
        session = _Session(view.id, view.title_source, deleted=view.deleted)
        self._sessions[view.id] = session
        if view.title_source != "default":
            self._set_title(session, view.title)
        for message_id, content in view.messages.ids_and_contents():
            self._add_message(session, message_id, content)

    def search(self, query: str, *, limit: int = 20, offset: int = 0) -> SearchPage:
        """Sessions holding every query word (the last also as a prefix), best first."""
        if limit < 0:
            raise InvalidInput("limit must not be negative", field="limit")
        if offset < 0:
            raise InvalidInput("offset must not be negative", field="offset")
        groups = self._query_groups(tokenize(query))
        if not groups:
            return SearchPage([], 0)
        # Rarest group first: it bounds the candidates, and later groups only look them up.
        groups.sort(key=self._group_cost)
        found: dict[_Session, _Found] | None = None
        for group in groups:
            found = self._match(group, found)
            if not found:
                return SearchPage([], 0)
        assert found is not None
        # Only the sessions up to the page's end need ordering, not every match.
        ranked = heapq.nsmallest(
            offset + limit, found.items(), key=lambda item: (-item[1].score, item[0].id)
        )
        hits = [
            SearchHit(session.id, match.score, match.title_match, _message_ids(match.messages))
            for session, match in ranked[offset:]
        ]
        return SearchPage(hits, len(found))

    # --- updates -------------------------------------------------------------------------------

    def _new_session(self, recorded: Recorded, title_source: str) -> _Session:
        if recorded.stream in self._sessions:
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: a second first event")
        session = _Session(recorded.stream, title_source)
        self._sessions[recorded.stream] = session
        return session

    def _session(self, recorded: Recorded) -> _Session:
        session = self._sessions.get(recorded.stream)
        if session is None:
            raise CorruptLog(
                f"{recorded.stream} seq {recorded.seq}: {recorded.type} before session_created"
            )
        return session

    def _message(self, session: _Session, recorded: Recorded, message_id: str) -> _Message:
        message = session.messages.get(message_id)
        if message is None:
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: no message {message_id}")
        return message

    def _add_message(self, session: _Session, message_id: str, content: str) -> None:
        old = session.messages.pop(message_id, None)
        if old is not None:  # ids are unique per session; should one repeat, the newest wins
            self._unindex(old)
            self._message_count -= 1
        message = _Message(session, message_id, session.next_order)
        session.next_order += 1
        session.messages[message_id] = message
        self._message_count += 1
        self._index(message, content)

    def _index(self, message: _Message, content: str) -> None:
        counts = _counts(content)
        values = tuple(counts.values())
        message.terms = tuple(counts)
        message.counts = bytes(values) if max(values, default=0) < 256 else values
        message.session.message_terms += len(counts)
        postings, titles = self._messages, self._titles
        for term, count in counts.items():
            posting = postings.get(term)
            if posting is None:
                posting = postings[term] = _Posting()
                if term not in titles:
                    self._new_term(term)
            posting.messages.append(message)
            posting.counts.append(count)
            posting.live += 1

    def _unindex(self, message: _Message) -> None:
        """Kill a message's record; its postings keep it until compaction."""
        postings, queue = self._messages, self._compactions
        for term in message.terms:
            posting = postings[term]
            posting.live -= 1
            if not posting.live:
                del postings[term]
                posting.pending = False
            elif not posting.pending and len(posting.messages) - posting.live > max(
                posting.live, COMPACT_MIN
            ):
                posting.pending = True
                queue.append(posting)
        removed = len(message.terms)
        message.session.message_terms -= removed
        message.terms = ()
        message.counts = b""
        self._compact_some(COMPACT_STEP * removed)

    def _compact_some(self, budget: int) -> None:
        """Spend up to about `budget` record reads compacting queued postings."""
        queue = self._compactions
        while budget > 0 and queue:
            posting = queue[0]
            if posting.pending:
                budget -= self._compact(posting, budget)
                if posting.pending:
                    return
            queue.popleft()

    @staticmethod
    def _compact(posting: _Posting, budget: int | None = None) -> int:
        """Compact a posting in place by up to `budget` records (all of it when None): live
        records move down over dead ones. Returns the records read."""
        messages, counts = posting.messages, posting.counts
        read, write = posting.read, posting.write
        end = len(messages) if budget is None else min(len(messages), read + budget)
        for i in range(read, end):
            message = messages[i]
            if message.terms:
                if write != i:
                    messages[write] = message
                    counts[write] = counts[i]
                write += 1
            else:
                # Drop the dead record here, a step at a time, so the final truncation only
                # releases references to the placeholder and to records kept below.
                messages[i] = _DEAD
        if end == len(messages):
            del messages[write:]
            del counts[write:]
            posting.read = posting.write = 0
            posting.pending = False
        else:
            posting.read, posting.write = end, write
        return max(end - read, 1)

    def _set_title(self, session: _Session, title: str) -> None:
        titles, postings = self._titles, self._messages
        for term in session.title_terms:
            old = titles[term]
            del old[session]
            if not old:
                del titles[term]
        if session.title_terms:
            self._titled -= 1
        counts = _counts(title)
        session.title_terms = tuple(counts)
        if counts:
            self._titled += 1
        for term, count in counts.items():
            posting = titles.get(term)
            if posting is None:
                posting = titles[term] = {}
                if term not in postings:
                    self._new_term(term)
            posting[session] = count

    def _new_term(self, term: str) -> None:
        self._fresh.append(term)
        if len(self._fresh) > len(self._vocabulary) + 1024:
            # Without queries _fresh would grow with every term that dies and comes back; merging
            # once it outgrows the vocabulary keeps that bounded at amortised O(log n) a term.
            self._refresh_vocabulary()

    # --- queries -------------------------------------------------------------------------------

    def _query_groups(self, tokens: list[str]) -> list[list[tuple[str, float]]]:
        """Per query word, the index terms that satisfy it with their weights."""
        if not tokens:
            return []
        *exact, last = tokens
        groups = [[(term, 1.0)] for term in dict.fromkeys(exact)]
        groups.append(self._completions(last))
        return groups

    def _completions(self, prefix: str) -> list[tuple[str, float]]:
        self._refresh_vocabulary()
        vocabulary, postings, titles = self._vocabulary, self._messages, self._titles
        group: list[tuple[str, float]] = []
        previous = None
        for i in range(bisect_left(vocabulary, prefix), len(vocabulary)):
            term = vocabulary[i]
            if not term.startswith(prefix):
                break
            # Skip duplicates (a term that died and came back) and dead terms.
            if term != previous and (term in postings or term in titles):
                group.append((term, 1.0 if term == prefix else PREFIX_WEIGHT))
            previous = term
        if not group:  # keep the word as a requirement nothing meets, so the query matches nothing
            group.append((prefix, 1.0))
        return group

    def _refresh_vocabulary(self) -> None:
        vocabulary = self._vocabulary
        live = len(self._messages) + len(self._titles)
        if len(vocabulary) + len(self._fresh) > 2 * live + 1024:
            # Mostly dead terms: rebuild, paid for by the removals that killed them.
            self._vocabulary = sorted(self._messages.keys() | self._titles.keys())
        elif self._fresh:
            # Timsort merges the sorted run with the sorted tail in near-linear time.
            vocabulary.extend(self._fresh)
            vocabulary.sort()
        self._fresh = []

    def _live(self, term: str) -> int:
        posting = self._messages.get(term)
        return 0 if posting is None else posting.live

    def _group_cost(self, group: list[tuple[str, float]]) -> int:
        titles = self._titles
        return sum(self._live(term) + len(titles.get(term, ())) for term, _ in group)

    def _idf(self, term: str) -> float:
        frequency = self._live(term) + len(self._titles.get(term, ()))
        if not frequency:
            return 0.0
        return math.log(1.0 + (self._message_count + self._titled) / frequency)

    def _match(
        self, group: list[tuple[str, float]], candidates: dict[_Session, _Found] | None
    ) -> dict[_Session, _Found]:
        """Sessions meeting one query word, limited to `candidates` (every session when None),
        carrying the candidates' score and matches forward."""
        if candidates is not None:
            # A common word after a rare one: reading the few candidate sessions' own terms is
            # cheaper than walking the word's long postings to find them.
            within = sum(s.message_terms + len(s.title_terms) for s in candidates)
            if within < self._group_cost(group):
                return self._match_within(group, candidates)
        return self._match_postings(group, candidates)

    def _match_postings(
        self, group: list[tuple[str, float]], candidates: dict[_Session, _Found] | None
    ) -> dict[_Session, _Found]:
        found: dict[_Session, _Found] = {}
        for term, weight in group:
            idf = self._idf(term) * weight
            for session, count in self._titles.get(term, {}).items():
                if session.deleted or (candidates is not None and session not in candidates):
                    continue
                match = found.get(session)
                if match is None:
                    match = found[session] = _Found()
                match.score += idf * TITLE_WEIGHT * (1.0 + math.log(count))
                match.title_match = True
            posting = self._messages.get(term)
            if posting is None:
                continue
            if posting.pending:  # reading it all anyway: finish its compaction first
                self._compact(posting)
            clean = posting.live == len(posting.messages)  # no dead records to skip
            for message, count in zip(posting.messages, posting.counts, strict=True):
                session = message.session
                if (
                    (not clean and not message.terms)
                    or session.deleted
                    or (candidates is not None and session not in candidates)
                ):
                    continue
                match = found.get(session)
                if match is None:
                    match = found[session] = _Found()
                match.score += idf * (1.0 + math.log(count))
                match.messages.append(message)
        if candidates is not None:
            for session, match in found.items():
                before = candidates[session]
                match.score += before.score
                match.title_match = match.title_match or before.title_match
                match.messages.extend(before.messages)
        return found

    def _match_within(
        self, group: list[tuple[str, float]], candidates: dict[_Session, _Found]
    ) -> dict[_Session, _Found]:
        """As `_match_postings`, by reading each candidate's terms (none of them is deleted)."""
        weights = {term: self._idf(term) * weight for term, weight in group}
        titles = self._titles
        found: dict[_Session, _Found] = {}
        for session, before in candidates.items():
            score, title_match, messages = 0.0, False, []
            for term in session.title_terms:
                weight = weights.get(term)
                if weight is not None:
                    score += weight * TITLE_WEIGHT * (1.0 + math.log(titles[term][session]))
                    title_match = True
            for message in session.messages.values():
                hit = False
                for term, count in zip(message.terms, message.counts, strict=True):
                    weight = weights.get(term)
                    if weight is not None:
                        score += weight * (1.0 + math.log(count))
                        hit = True
                if hit:
                    messages.append(message)
            if title_match or messages:
                found[session] = _Found(
                    before.score + score,
                    before.title_match or title_match,
                    before.messages + messages,
                )
        return found


# What compaction leaves in a dead record's slot: holding no terms, it reads as dead too.
_DEAD = _Message(_Session("", "default"), "", -1)


def _counts(text: str) -> dict[str, int]:
    """Each distinct token of `text`, interned (one string per term however many messages hold
    it), with how often it occurs."""
    return {sys.intern(term): count for term, count in Counter(tokenize(text)).items()}


def _message_ids(messages: list[_Message]) -> tuple[str, ...]:
    """The first matching messages in session order; a message matching several words once."""
    first = heapq.nsmallest(HIT_MESSAGES, set(messages), key=lambda message: message.order)
    return tuple(message.id for message in first)
