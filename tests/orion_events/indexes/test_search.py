"""The search index alone: committed events fed in order, real queries, real results."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from orion_events.domain.errors import CorruptLog, InvalidInput
from orion_events.domain.events import (
    Event,
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
)
from orion_events.indexes.search import SearchHit, SearchIndex, SearchPage


class Feed:
    """Commits events to a fresh index the way the store does: per-stream seqs, one global
    position."""

    def __init__(self) -> None:
        self.index = SearchIndex()
        self._seqs: defaultdict[str, int] = defaultdict(int)
        self._position = 0

    def __call__(self, stream: str, *events: Event) -> None:
        for event in events:
            self._seqs[stream] += 1
            self._position += 1
            seq = self._seqs[stream]
            self.index.apply(
                Recorded(
                    stream,
                    seq,
                    f"{stream}-e{seq}",
                    f"2025-01-01T00:00:{seq % 60:02d}.000000Z",
                    event,
                    self._position,
                )
            )

    def session(self, stream: str, *messages: str, title: str | None = None) -> None:
        """A session with a client title (or none) and messages m1, m2, … in order; assistant
        messages, so that they never give it a title."""
        self(stream, SessionCreated(title, {}))
        for n, content in enumerate(messages, start=1):
            self(stream, MessageAdded(f"m{n}", "assistant", content))

    def ids(self, query: str, **page: int) -> list[str]:
        return [hit.session_id for hit in self.index.search(query, **page).hits]

    def hit(self, query: str, session_id: str) -> SearchHit:
        (found,) = [h for h in self.index.search(query).hits if h.session_id == session_id]
        return found


@pytest.fixture
def feed() -> Feed:
    return Feed()


def test_finds_a_word_just_added(feed: Feed) -> None:
    feed.session("s1", "hello there", title="Greetings")
    assert feed.ids("quokka") == []
    feed("s1", MessageAdded("m9", "user", "a Quokka smiles"))
    page = feed.index.search("quokka")
    assert page == SearchPage([SearchHit("s1", page.hits[0].score, False, ("m9",))], 1)
    assert page.hits[0].score > 0


def test_an_edit_forgets_the_old_words_and_finds_the_new(feed: Feed) -> None:
    feed.session("s1", "the colour is teal", "teal again")
    feed("s1", MessageEdited("m1", "the colour is mauve"))
    assert feed.hit("teal", "s1").message_ids == ("m2",)
    assert feed.hit("mauve", "s1").message_ids == ("m1",)
    assert feed.hit("colour", "s1").message_ids == ("m1",)
    feed("s1", MessageEdited("m2", "nothing left"))
    assert feed.ids("teal") == []


def test_a_deleted_message_stops_matching(feed: Feed) -> None:
    feed.session("s1", "walrus one", "walrus two")
    feed("s1", MessageDeleted("m1"))
    assert feed.hit("walrus", "s1").message_ids == ("m2",)
    assert feed.ids("one") == []
    feed("s1", MessageDeleted("m2"))
    assert feed.ids("walrus") == []


def test_cleared_messages_stop_matching_but_the_title_stays(feed: Feed) -> None:
    feed.session("s1", "ocelot", "ocelot twice", title="Cats")
    feed("s1", MessagesCleared())
    assert feed.ids("ocelot") == []
    assert feed.ids("cats") == ["s1"]
    feed("s1", MessageAdded("m3", "user", "ocelot returns"))
    assert feed.hit("ocelot", "s1").message_ids == ("m3",)


def test_a_deleted_session_stops_matching_and_a_restored_one_matches_again(feed: Feed) -> None:
    feed.session("s1", "penguin facts", title="Birds")
    feed.session("s2", "penguin jokes")
    feed("s1", SessionDeleted())
    assert feed.ids("penguin") == ["s2"]
    assert feed.ids("birds") == []
    assert feed.index.search("penguin").total == 1
    feed("s1", MessageAdded("m7", "user", "penguin colony"))  # indexed while deleted
    feed("s1", SessionRestored())
    assert sorted(feed.ids("penguin")) == ["s1", "s2"]
    assert feed.hit("penguin", "s1").message_ids == ("m1", "m7")
    assert feed.ids("birds") == ["s1"]


def test_a_fork_indexes_its_copied_messages_under_the_new_session(feed: Feed) -> None:
    feed.session("s1", "lighthouse keeper", "foghorn", title="Coast")
    messages: list[dict[str, Any]] = [
        {
            "id": f"m{n}",
            "role": "user",
            "content": content,
            "timestamp": "2025-01-01T00:00:00.000000Z",
            "agent": None,
            "model": None,
        }
        for n, content in ((1, "lighthouse keeper"), (2, "foghorn"))
    ]
    feed("f1", SessionForked("Coast fork", "client", {}, messages, "s1", 3))
    assert sorted(feed.ids("lighthouse")) == ["f1", "s1"]
    assert feed.hit("foghorn", "f1").message_ids == ("m2",)
    assert feed.ids("fork") == ["f1"]
    # The copies are the fork's own: editing them leaves the source alone.
    feed("f1", MessageEdited("m2", "siren"))
    assert feed.ids("foghorn") == ["s1"]
    assert feed.ids("siren") == ["f1"]


def test_a_fork_with_a_default_title_takes_an_auto_title_and_a_client_one_never(
    feed: Feed,
) -> None:
    feed("f1", SessionForked("New Chat", "default", {}, [], "s0", 1))
    feed("f2", SessionForked("Kept", "client", {}, [], "s0", 1))
    assert feed.ids("new chat") == []
    feed("f1", MessageAdded("m1", "user", "harbour seals"))
    feed("f2", MessageAdded("m1", "user", "harbour seals"))
    assert feed.hit("seals", "f1").title_match
    assert not feed.hit("seals", "f2").title_match


def test_rename_replaces_the_title_words(feed: Feed) -> None:
    feed.session("s1", title="Trip to Lisbon")
    feed("s1", SessionRenamed("Porto itinerary"))
    assert feed.ids("lisbon") == []
    assert feed.ids("trip") == []
    assert feed.hit("porto", "s1") == SearchHit("s1", feed.hit("porto", "s1").score, True, ())


def test_the_default_title_matches_nothing(feed: Feed) -> None:
    feed.session("s1")
    assert feed.ids("new") == []
    assert feed.ids("chat") == []


def test_the_first_user_message_titles_an_untitled_session(feed: Feed) -> None:
    feed("s1", SessionCreated(None, {}))
    feed("s1", MessageAdded("m1", "assistant", "assistant gibbon"))  # not a user's
    feed("s1", MessageAdded("m2", "user", "   \n\t "))  # blank: titles nothing
    feed("s1", MessageAdded("m3", "user", "Marmoset   questions " + "x" * 40 + " tail"))
    feed("s1", MessageAdded("m4", "user", "capybara"))  # the second user message: not a title
    feed("s1", MessageDeleted("m3"))  # the title outlives its message, as in the view
    assert feed.hit("marmoset", "s1") == SearchHit("s1", feed.hit("marmoset", "s1").score, True, ())
    assert feed.hit("questions", "s1").title_match
    assert feed.ids("gibbon") == ["s1"]
    assert not feed.hit("gibbon", "s1").title_match
    assert not feed.hit("capybara", "s1").title_match
    # The title is cut at 50 characters, so "tail" never reached it; the message is gone.
    assert feed.ids("tail") == []


def test_a_user_message_that_shows_nothing_leaves_the_title_to_the_next(feed: Feed) -> None:
    feed("s1", SessionCreated(None, {}))
    feed("s1", MessageAdded("m1", "user", "\u200b\u2060\ufeff \u200d"))
    feed("s1", MessageAdded("m2", "user", "\u200bokapi sightings"))
    feed("s1", MessageAdded("m3", "user", "tapir"))
    assert feed.hit("okapi", "s1").title_match
    assert not feed.hit("tapir", "s1").title_match


def test_a_client_title_is_never_replaced_by_message_text(feed: Feed) -> None:
    feed.session("s1", title="Chosen")
    feed("s1", MessageAdded("m1", "user", "armadillo"))
    feed("s2", SessionCreated(None, {}))
    feed("s2", SessionRenamed("Renamed early"))
    feed("s2", MessageAdded("m1", "user", "armadillo"))
    for session_id in ("s1", "s2"):
        assert not feed.hit("armadillo", session_id).title_match
    assert feed.ids("chosen") == ["s1"]
    assert feed.ids("renamed") == ["s2"]


def test_an_auto_title_is_replaced_by_a_rename(feed: Feed) -> None:
    feed("s1", SessionCreated(None, {}))
    feed("s1", MessageAdded("m1", "user", "narwhal tusks"))
    feed("s1", SessionRenamed("Arctic"))
    assert not feed.hit("narwhal", "s1").title_match
    feed("s1", MessageAdded("m2", "user", "beluga"))
    assert not feed.hit("beluga", "s1").title_match
    assert feed.hit("arctic", "s1").title_match


def test_every_word_must_match_but_in_any_message_or_the_title(feed: Feed) -> None:
    feed.session("s1", "red apples", "green pears")
    feed.session("s2", "red pears")
    feed.session("s3", "green apples")
    feed.session("s4", "apples", title="Green")
    assert sorted(feed.ids("red pears")) == ["s1", "s2"]
    assert feed.hit("red pears", "s1").message_ids == ("m1", "m2")
    assert sorted(feed.ids("green apples")) == ["s1", "s3", "s4"]
    assert feed.ids("red green apples pears") == ["s1"]
    assert feed.ids("red plums") == []


def test_the_last_word_matches_as_a_prefix(feed: Feed) -> None:
    feed.session("s1", "event sourcing")
    feed.session("s2", "many events")
    feed.session("s3", "an eve party")
    feed.session("s4", "evaluation")
    assert sorted(feed.ids("eve")) == ["s1", "s2", "s3"]
    assert feed.ids("eve")[0] == "s3"  # the word itself ranks above its completions
    assert sorted(feed.ids("event")) == ["s1", "s2"]
    assert feed.ids("eve sourcing") == []  # only the last word is a prefix
    assert feed.ids("sourcing eve") == ["s1"]
    assert feed.ids("evz") == []
    assert feed.hit("eve", "s2").message_ids == ("m1",)


def test_prefix_lookup_follows_words_that_come_and_go(feed: Feed) -> None:
    feed.session("s1", "zeppelin")
    assert feed.ids("zep") == ["s1"]
    feed("s1", MessageEdited("m1", "blimp"))
    assert feed.ids("zep") == []
    feed("s1", MessageEdited("m1", "zeppelin again"))
    feed("s1", MessageEdited("m1", "blimp"))
    feed("s1", MessageEdited("m1", "zeppelin once more"))
    assert feed.ids("zep") == ["s1"]
    assert feed.hit("zep", "s1").message_ids == ("m1",)


def test_a_title_hit_ranks_above_a_message_hit(feed: Feed) -> None:
    feed.session("a", "nothing relevant", "still nothing")
    feed.session("b", "about the mongoose")
    feed.session("c", "unrelated", title="Mongoose")
    page = feed.index.search("mongoose")
    assert [h.session_id for h in page.hits] == ["c", "b"]
    assert [h.title_match for h in page.hits] == [True, False]
    assert page.hits[0].score > page.hits[1].score


def test_more_matching_messages_rank_higher(feed: Feed) -> None:
    feed.session("a", "badger")
    feed.session("b", "badger", "badger again", "badger thrice")
    assert feed.ids("badger") == ["b", "a"]
    assert feed.hit("badger", "b").message_ids == ("m1", "m2", "m3")


def test_a_rarer_word_weighs_more(feed: Feed) -> None:
    # Both sessions hold both words; each holds one of them twice. "yak" is everywhere, so the
    # session with more of the rare "zebra" wins.
    feed.session("more-zebra", "zebra", "zebra", "yak")
    feed.session("more-yak", "zebra", "yak", "yak")
    for n in range(10):
        feed.session(f"filler{n}", "yak")
    assert feed.ids("zebra yak")[:2] == ["more-zebra", "more-yak"]
    assert feed.hit("zebra yak", "more-zebra").score > feed.hit("zebra yak", "more-yak").score


def test_ties_go_by_session_id_and_pages_by_offset_and_limit(feed: Feed) -> None:
    for n in (3, 0, 4, 1, 2):
        feed.session(f"s{n}", "identical heron")
    assert feed.ids("heron") == ["s0", "s1", "s2", "s3", "s4"]
    page = feed.index.search("heron", limit=2, offset=1)
    assert [h.session_id for h in page.hits] == ["s1", "s2"]
    assert page.total == 5
    assert feed.ids("heron", limit=2, offset=4) == ["s4"]
    assert feed.index.search("heron", offset=9) == SearchPage([], 5)
    assert feed.index.search("heron", limit=0) == SearchPage([], 5)
    assert feed.index.search("heron").total == 5


def test_a_hit_lists_at_most_five_messages_in_session_order(feed: Feed) -> None:
    feed.session("s1", *[f"heron {n}" for n in range(8)])
    feed("s1", MessageEdited("m1", "heron edited"))  # an edit keeps its place
    assert feed.hit("heron", "s1").message_ids == ("m1", "m2", "m3", "m4", "m5")
    # Messages matching any of the words count, each once.
    assert feed.hit("heron 7", "s1").message_ids == ("m1", "m2", "m3", "m4", "m5")
    assert feed.hit("7 edited", "s1").message_ids == ("m1", "m8")


def test_words_are_casefolded_across_unicode(feed: Feed) -> None:
    feed.session("s1", "Wir wohnen in der Straße")
    feed.session("s2", "Émile Zola", "ΣΊΣΥΦΟΣ")
    feed.session("s3", "Emile without accent")
    assert feed.ids("STRASSE") == ["s1"]
    assert feed.ids("strasse") == ["s1"]
    assert feed.ids("straße") == ["s1"]
    assert feed.ids("émile") == ["s2"]
    assert feed.ids("ÉMILE") == ["s2"]
    assert feed.ids("E\u0301mile") == ["s2"]  # decomposed, as some keyboards send it
    assert feed.ids("emile") == ["s3"]
    assert feed.ids("σίσυφος") == ["s2"]


def test_a_query_without_words_returns_nothing(feed: Feed) -> None:
    feed.session("s1", "!!! ??? ... hello", title="-- --")
    for query in ("", "   ", "!!!", "?? -- ...", "\t\n"):
        assert feed.index.search(query) == SearchPage([], 0)


def test_settings_purges_and_metadata_are_ignored(feed: Feed) -> None:
    feed.session("s1", "koala")
    feed("settings", SettingsChanged({"theme": "koala"}), SettingsReset())
    feed("s1", MetadataUpdated({"tag": "wombat"}))
    feed("operator", SessionPurged("s9", 3, "abc", "admin", reason="koala privacy"))
    assert feed.ids("koala") == ["s1"]
    assert feed.ids("wombat") == []
    assert feed.ids("privacy") == []
    assert feed.ids("theme") == []


def test_events_for_an_unknown_session_or_message_are_corrupt(feed: Feed) -> None:
    with pytest.raises(CorruptLog):
        feed("nope", MessageAdded("m1", "user", "x"))
    feed.session("s1", "x")
    with pytest.raises(CorruptLog):
        feed("s1", MessageEdited("m9", "y"))
    with pytest.raises(CorruptLog):
        feed("s1", SessionCreated(None, {}))


def test_a_negative_page_is_invalid(feed: Feed) -> None:
    with pytest.raises(InvalidInput):
        feed.index.search("x", limit=-1)
    with pytest.raises(InvalidInput):
        feed.index.search("x", offset=-1)


def test_twenty_thousand_messages_still_answer_correctly(feed: Feed) -> None:
    sessions = 200
    words: dict[str, set[str]] = {}  # every word each session holds, for a brute-force answer
    for s in range(sessions):
        feed(f"s{s:03d}", SessionCreated(f"Session {s}", {}))
        words[f"s{s:03d}"] = {"session", str(s)}
    for n in range(20_000):
        session_id = f"s{n % sessions:03d}"
        content = f"common word{n % 97} bucket{n % 13}"
        if n % 1000 == 7:
            content += " needle"
        feed(session_id, MessageAdded(f"m{n}", "user", content))
        words[session_id].update(content.split())

    def brute_force(*exact: str, prefix: str) -> set[str]:
        return {
            session_id
            for session_id, held in words.items()
            if set(exact) <= held and any(word.startswith(prefix) for word in held)
        }

    # needle: n = 7, 1007, … 19007, all with n % 200 == 7, so one session, twenty messages.
    page = feed.index.search("needle")
    assert page.total == 1
    assert page.hits[0].session_id == "s007"
    assert page.hits[0].message_ids == ("m7", "m1007", "m2007", "m3007", "m4007")
    for query, exact, prefix in [
        ("bucket5 word5", ["bucket5"], "word5"),  # word5, word50 … word59
        ("word96 bucket1", ["word96"], "bucket1"),
        ("needle word3", ["needle"], "word3"),
        ("comm", [], "comm"),
    ]:
        expected = brute_force(*exact, prefix=prefix)
        assert expected, query
        page = feed.index.search(query, limit=1000)
        assert {h.session_id for h in page.hits} == expected, query
        assert page.total == len(expected)
        assert [h.score for h in page.hits] == sorted((h.score for h in page.hits), reverse=True)
    assert feed.index.search("comm").total == sessions
    feed("s007", MessagesCleared())
    assert feed.index.search("needle") == SearchPage([], 0)


def test_edits_compact_postings_without_changing_results(feed: Feed) -> None:
    words = [f"shared word{n}" for n in range(200)]
    feed.session("s1", *words, title="notes")
    feed.session("s2", "shared once")
    for n in range(1, 151):
        words[n - 1] = f"other word{n - 1}"
        feed("s1", MessageEdited(f"m{n}", words[n - 1]))
    # Compaction kept up with the removals: dead records never far outnumber live ones.
    posting = feed.index._messages["shared"]
    assert posting.live == 51
    assert len(posting.messages) - posting.live <= 2 * max(posting.live, 16)
    # Same answers as an index fed only the final text.
    fresh = Feed()
    fresh.session("s1", *words, title="notes")
    fresh.session("s2", "shared once")
    for query in ["shared", "other", "word1", "wor", "shared word199"]:
        assert feed.index.search(query) == fresh.index.search(query)
    # Queries left it compacted, or with no more dead records than the threshold allows.
    assert not posting.pending
    assert len(posting.messages) - posting.live <= max(posting.live, 16)


def test_an_imported_session_is_searched_in_every_branch_and_by_its_title() -> None:
    feed = Feed()
    messages = [
        {"id": i, "role": "user", "content": text, "timestamp": "2024-01-01T00:00:00.000000Z",
         "agent": None, "model": None, "parent_id": parent}
        for i, text, parent in [("q", "zebra question", None), ("a", "quagga answer", "q"),
                                ("b", "okapi answer", "q")]
    ]  # fmt: skip
    feed("s1", SessionImported("Safari notes", {}, messages, "b", "2024-01-01T00:00:00.000000Z",
                               "openwebui", "w-1"))  # fmt: skip
    for word in ("quagga", "okapi", "zebra", "safari"):
        assert [h.session_id for h in feed.index.search(word).hits] == ["s1"], word
