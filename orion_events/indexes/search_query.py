"""One search query against the index: the sessions holding every word, scored and paged."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from typing import TypeAlias

from attrs import define, field, frozen

from orion_events.indexes.search_postings import MessagePostings
from orion_events.indexes.search_sessions import IndexedSession
from orion_events.indexes.search_terms import Vocabulary

TITLE_WEIGHT = 3.0  # one title hit counts as much as three single-hit messages
PREFIX_WEIGHT = 0.5  # "eve" finding "events" ranks below a session holding the word "eve"
HIT_MESSAGES = 5  # message ids a hit carries, enough to show where the words are

# Title terms, few beside messages' terms, stay plain: term -> {session: count}.
Titles: TypeAlias = dict[str, dict[IndexedSession, int]]
Group: TypeAlias = list[tuple[str, float]]  # the terms meeting one query word, with weights


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


@define(eq=False)
class _Found:
    """One session's running match while a query is evaluated."""

    score: float = 0.0
    title_match: bool = False
    messages: list[int] = field(factory=list)  # records


class Query:
    """A query's view of the index, for the length of one search."""

    __slots__ = ("_documents", "_postings", "_sessions", "_titles", "_vocabulary")

    def __init__(
        self,
        postings: MessagePostings,
        titles: Titles,
        sessions: Sequence[IndexedSession],
        vocabulary: Vocabulary,
        documents: int,
    ) -> None:
        self._postings = postings
        self._titles = titles
        self._sessions = sessions  # by number
        self._vocabulary = vocabulary
        self._documents = documents  # live messages and titled sessions: the idf's documents

    def page(
        self,
        tokens: list[str],
        limit: int,
        offset: int,
        visible: Callable[[str], bool] | None = None,
    ) -> SearchPage:
        """Sessions holding every word of `tokens` (the last also as a prefix), best first; of
        those whose id `visible` takes, when given (a user's own)."""
        groups = self._groups(tokens)
        if not groups:
            return SearchPage([], 0)
        # Rarest group first: it bounds the candidates, and later groups only look them up.
        groups.sort(key=self._group_cost)
        found: dict[IndexedSession, _Found] | None = None
        for group in groups:
            found = self._match(group, found)
            if not found:
                return SearchPage([], 0)
        assert found is not None
        if visible is not None:
            found = {session: match for session, match in found.items() if visible(session.id)}
        # Only the sessions up to the page's end need ordering, not every match.
        ranked = heapq.nsmallest(
            offset + limit, found.items(), key=lambda item: (-item[1].score, item[0].id)
        )
        orders = self._postings.orders
        hits = [
            SearchHit(
                session.id,
                match.score,
                match.title_match,
                # The first matching messages in session order; one matching several words once.
                session.message_ids(
                    heapq.nsmallest(HIT_MESSAGES, set(match.messages), key=orders.__getitem__),
                    orders,
                ),
            )
            for session, match in ranked[offset:]
        ]
        return SearchPage(hits, len(found))

    def _groups(self, tokens: list[str]) -> list[Group]:
        """Per query word, the index terms that satisfy it with their weights."""
        if not tokens:
            return []
        *exact, last = tokens
        groups = [[(term, 1.0)] for term in dict.fromkeys(exact)]
        completions = [
            (term, 1.0 if term == last else PREFIX_WEIGHT)
            for term in self._vocabulary.completions(last)
        ]
        # None: keep the word as a requirement nothing meets, so the query matches nothing.
        groups.append(completions or [(last, 1.0)])
        return groups

    def _group_cost(self, group: Group) -> int:
        titles, postings = self._titles, self._postings
        return sum(postings.live(term) + len(titles.get(term, ())) for term, _ in group)

    def _idf(self, term: str) -> float:
        frequency = self._postings.live(term) + len(self._titles.get(term, ()))
        if not frequency:
            return 0.0
        return math.log(1.0 + self._documents / frequency)

    def _match(
        self, group: Group, candidates: dict[IndexedSession, _Found] | None
    ) -> dict[IndexedSession, _Found]:
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
        self, group: Group, candidates: dict[IndexedSession, _Found] | None
    ) -> dict[IndexedSession, _Found]:
        found: dict[IndexedSession, _Found] = {}
        postings, sessions = self._postings, self._sessions
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
            posting = postings.get(term)
            if posting is None:
                continue
            for record, owner, count in postings.entries(posting):
                session = sessions[owner]
                if session.deleted or (candidates is not None and session not in candidates):
                    continue
                match = found.get(session)
                if match is None:
                    match = found[session] = _Found()
                match.score += idf * (1.0 + math.log(count))
                match.messages.append(record)
        if candidates is not None:
            for session, match in found.items():
                before = candidates[session]
                match.score += before.score
                match.title_match = match.title_match or before.title_match
                match.messages.extend(before.messages)
        return found

    def _match_within(
        self, group: Group, candidates: dict[IndexedSession, _Found]
    ) -> dict[IndexedSession, _Found]:
        """As `_match_postings`, by reading each candidate's terms (none of them is deleted)."""
        weights = {term: self._idf(term) * weight for term, weight in group}
        postings, titles = self._postings, self._titles
        by_number = {
            number: weight
            for term, weight in weights.items()
            if (number := postings.number(term)) is not None
        }
        found: dict[IndexedSession, _Found] = {}
        for session, before in candidates.items():
            score, title_match, messages = 0.0, False, []
            for term in session.title_terms:
                weight = weights.get(term)
                if weight is not None:
                    score += weight * TITLE_WEIGHT * (1.0 + math.log(titles[term][session]))
                    title_match = True
            for record in session.records:
                hit = False
                for number, count in postings.terms_of(record):
                    weight = by_number.get(number)
                    if weight is not None:
                        score += weight * (1.0 + math.log(count))
                        hit = True
                if hit:
                    messages.append(record)
            if title_match or messages:
                found[session] = _Found(
                    before.score + score,
                    before.title_match or title_match,
                    before.messages + messages,
                )
        return found
