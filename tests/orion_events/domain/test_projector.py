"""The projector alone: pure replays of committed and hand-built event sequences."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from attrs import asdict

from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import (
    MessageAdded,
    MessagesCleared,
    Recorded,
    SessionCreated,
    SessionRenamed,
    SettingsChanged,
    SettingsReset,
)
from orion_events.domain.projector import (
    AUTO_TITLE_MAX_CODE_POINTS,
    apply_session,
    auto_title,
    replay_session,
    replay_settings,
)
from orion_events.domain.views import MessageList, MessageView
from orion_events.storage.codec import scan
from service.payloads import session_json, settings_json

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden"


def test_golden_log_replays_to_the_committed_views() -> None:
    """Today's log format must replay identically forever: this file is never regenerated."""
    expected = orjson.loads((GOLDEN / "expected.json").read_bytes())
    sessions = {}
    for path in sorted((GOLDEN / "var" / "sessions").glob("*.jsonl")):
        result = scan(path.read_bytes(), path.stem)
        assert result.damage is None
        view = replay_session(result.records)
        assert view is not None
        sessions[view.id] = {**session_json(view), "deleted": view.deleted}
    settings = scan((GOLDEN / "var" / "settings.jsonl").read_bytes(), "settings")
    assert sessions == expected["sessions"]
    assert settings_json(replay_settings(settings.records).shared) == expected["settings"]


def _events(*events: object, stream: str = "s") -> list[Recorded]:
    return [
        Recorded(stream, seq, f"e{seq}", f"2025-01-01T00:00:{seq:02d}.000000Z", event)  # type: ignore[arg-type]
        for seq, event in enumerate(events, start=1)
    ]


def _message(role: str, content: str, n: int = 0) -> MessageAdded:
    return MessageAdded(message_id=f"m{n}", role=role, content=content)


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # a ZWJ sequence
FLAGS = "\U0001f1fa\U0001f1f8\U0001f1eb\U0001f1f7"  # US, FR: regional indicator pairs
WAVE_DARK = "\U0001f44b\U0001f3ff"  # waving hand and a skin-tone modifier
E_ACUTE = "e\u0301"  # e and a combining acute accent
GAG = "\u1100\u1161\u11a8"  # Hangul jamo: one syllable from three code points
KSSA = "\u0915\u094d\u0937"  # a Devanagari conjunct (Unicode 15.1's rule GB9c)


@pytest.mark.parametrize(
    ("content", "title"),
    [
        pytest.param("Hello!", "Hello!", id="short"),
        pytest.param("  spaced \t\n  out  ", "spaced out", id="whitespace"),
        pytest.param("x" * 80, "x" * 50, id="ascii"),
        pytest.param("é" * 60, "é" * 50, id="precomposed"),
        # The 50th character is a cluster of several code points: kept whole, nothing after it.
        pytest.param("x" * 49 + FAMILY + "y", "x" * 49 + FAMILY, id="family-at-the-cut"),
        pytest.param("x" * 49 + FLAGS, "x" * 49 + FLAGS[:2], id="flag-at-the-cut"),
        pytest.param("x" * 48 + FLAGS + FLAGS, "x" * 48 + FLAGS, id="flags-paired-at-the-cut"),
        pytest.param("x" * 49 + WAVE_DARK + "y", "x" * 49 + WAVE_DARK, id="skin-tone-at-the-cut"),
        pytest.param("x" * 49 + E_ACUTE + "y", "x" * 49 + E_ACUTE, id="combining-at-the-cut"),
        pytest.param("x" * 49 + GAG + "y", "x" * 49 + GAG, id="hangul-jamo-at-the-cut"),
        pytest.param("x" * 49 + KSSA + "y", "x" * 49 + KSSA, id="conjunct-at-the-cut"),
        # 50 clusters, however many code points each holds.
        pytest.param(FAMILY * 60, FAMILY * 50, id="families"),
        pytest.param(FLAGS * 30, FLAGS * 25, id="flags"),
        pytest.param(E_ACUTE * 60, E_ACUTE * 50, id="combining"),
        pytest.param(GAG * 60, GAG * 50, id="hangul-jamo"),
        pytest.param(WAVE_DARK * 60, WAVE_DARK * 50, id="skin-tones"),
    ],
)
def test_auto_title_collapses_whitespace_and_cuts_at_50_grapheme_clusters(
    content: str, title: str
) -> None:
    assert auto_title(content) == title
    view = replay_session(_events(SessionCreated(None, {}), _message("user", content)))
    assert view is not None
    assert (view.title, view.title_source) == (title, "auto")


def test_a_title_of_one_code_point_clusters_is_what_it_always_was() -> None:
    """Text whose every character is a cluster of its own, and shows: the old rule's title, so
    such logs (most) keep the titles they always had."""
    rng = random.Random(11)
    alphabet = "abcXYZ019 .,!?-'\t\n\u00a0\u3000éßøñ漢字かな\u0430\u0431\u0432한글🙂✓"
    for _ in range(2000):
        content = "".join(rng.choice(alphabet) for _ in range(rng.randrange(120)))
        old = " ".join(content.split())[:50]
        assert auto_title(content) == old, repr(content)


INVISIBLE = [
    "",
    " \t\r\n\u00a0\u3000",  # whitespace
    "\u200b",  # zero-width space
    "\u200c\u200d",  # zero-width non-joiner and joiner
    "\u2060",  # word joiner
    "\ufeff",  # BOM, zero-width no-break space
    "\u00ad\u034f\u180e\u2061\u206f",  # soft hyphen, CGJ, MVS, invisible operators
    "\ufe0f\U000e0041\U000e007f",  # a variation selector and tag characters
    "\u115f\u1160\u3164\uffa0",  # Hangul fillers
    "\x00\x07\x1b\x7f\x85\x9f",  # control characters
    "\u202e\u2066\u200e",  # bidirectional formatting
    " \u200b \u200b\n\ufeff\u2060 ",
]


@pytest.mark.parametrize("blank", INVISIBLE, ids=ascii)
def test_a_message_that_shows_nothing_titles_nothing(blank: str) -> None:
    assert auto_title(blank) == ""
    records = _events(
        SessionCreated(None, {}), _message("user", blank, 1), _message("user", "Shown", 2)
    )
    view = replay_session(records[:2])
    assert view is not None
    assert (view.title, view.title_source) == ("New Chat", "default")
    # The next user message that shows something titles the session.
    view = replay_session(records)
    assert view is not None
    assert (view.title, view.title_source) == ("Shown", "auto")


def test_the_next_user_message_that_shows_something_titles_the_session() -> None:
    contents = [*INVISIBLE, "\u200b\ufeff visible at last", "too late"]
    view = replay_session(
        _events(SessionCreated(None, {}), *(_message("user", c, n) for n, c in enumerate(contents)))
    )
    assert view is not None
    assert (view.title, view.title_source) == ("visible at last", "auto")


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("\ufeffTitle", "Title"),
        ("\u200b\u200b \u2060 Hello \u200b world", "Hello \u200b world"),
        ("\x00\x1bTitle", "Title"),
        # A cluster that shows stays whole even where it starts with something that does not.
        ("\u200b \u0301x", " \u0301x"),  # an accent on a space
        ("\u200b\u115f\u1161", "\u115f\u1161"),  # a filler and its vowel: one cluster
    ],
    ids=ascii,
)
def test_an_auto_title_starts_at_the_first_cluster_that_shows(content: str, title: str) -> None:
    assert auto_title(content) == title


def test_an_auto_title_is_bounded_even_by_degenerate_clusters() -> None:
    """A cluster can be any length (a letter under endless marks, a chain of ZWJ'd emoji): a
    title stops before one that would take it past AUTO_TITLE_MAX_CODE_POINTS."""
    tower = "e" + "\u0301" * AUTO_TITLE_MAX_CODE_POINTS
    assert auto_title("ok " + tower + " more") == "ok "
    assert auto_title(tower) == ""  # nothing fits: this message titles nothing
    fits = "e" + "\u0301" * (AUTO_TITLE_MAX_CODE_POINTS - 1)
    assert auto_title(fits + "x") == fits
    assert auto_title("\u200b" * 5000 + tower) == ""
    assert auto_title("\u200b" * (1 << 20) + "a") == "a"


def test_only_the_first_user_message_titles_and_never_a_client_title() -> None:
    view = replay_session(
        _events(
            SessionCreated(None, {}),
            _message("assistant", "not me", 1),
            _message("user", "   ", 2),  # blank: nothing to title with yet
            _message("user", "first words", 3),
            _message("user", "second words", 4),
        )
    )
    assert view is not None
    assert view.title == "first words"
    pinned = replay_session(_events(SessionCreated("Mine", {}), _message("user", "hi")))
    assert pinned is not None
    assert pinned.title == "Mine"
    renamed = replay_session(
        _events(SessionCreated(None, {}), SessionRenamed("Later"), _message("user", "hi"))
    )
    assert renamed is not None
    assert renamed.title == "Later"


def test_version_and_updated_at_follow_the_last_event() -> None:
    view = replay_session(
        _events(SessionCreated(None, {}), _message("user", "a", 1), MessagesCleared())
    )
    assert view is not None
    assert (view.version, view.updated_at, view.message_count) == (
        3,
        "2025-01-01T00:00:03.000000Z",
        0,
    )
    assert view.created_at == "2025-01-01T00:00:01.000000Z"


def test_an_event_before_creation_is_a_corrupt_log() -> None:
    with pytest.raises(CorruptLog):
        replay_session(_events(_message("user", "orphan")))
    with pytest.raises(CorruptLog):
        replay_session(_events(SessionCreated(None, {}), SessionCreated(None, {})))


def test_earlier_views_keep_their_messages_when_later_ones_append() -> None:
    """Appends share storage instead of copying; an older view must still see only its prefix."""
    records = _events(SessionCreated(None, {}), *(_message("user", str(i), i) for i in range(3)))
    views = []
    view = None
    for recorded in records:
        view = apply_session(view, recorded)
        views.append(view)
    assert [len(v.messages) for v in views] == [0, 1, 2, 3]
    assert [m.content for m in views[2].messages] == ["0", "1"]
    # Branching from an older view copies instead of clobbering the newer one.
    branch = views[2].messages.appended(MessageView("b", "user", "branch", "t"))
    assert [m.content for m in branch] == ["0", "1", "branch"]
    assert [m.content for m in views[3].messages] == ["0", "1", "2"]


def test_message_list_behaves_as_a_sequence() -> None:
    items = MessageList()
    for i in range(4):
        items = items.appended(MessageView(str(i), "user", str(i), "t"))
    assert items[-1].id == "3"
    assert [m.id for m in items[1:3]] == ["1", "2"]
    with pytest.raises(IndexError):
        items[4]
    assert items == MessageList(list(items))


def test_settings_replay_applies_changes_in_order() -> None:
    view = replay_settings(
        _events(
            SettingsChanged({"theme": "light"}),
            SettingsChanged({"theme": "auto", "max_tokens": 10}),
            stream="settings",
        )
    ).shared
    assert asdict(view) | {} == {
        **asdict(replay_settings([]).shared),
        "theme": "auto",
        "max_tokens": 10,
        "version": 2,
        "updated_at": "2025-01-01T00:00:02.000000Z",
    }


GOLDEN_AUDIT = Path(__file__).resolve().parents[2] / "fixtures" / "golden-audit"


def golden_audit_replay() -> dict[str, object]:
    """What the audit fixture's logs replay to: every view, every event as the API shows it, the
    idempotency keys the logs carry, and the global order."""
    from orion_events.store.idempotency import keys_in
    from service.payloads import event_json

    sessions, events, keys = {}, {}, {}  # type: ignore[var-annotated]
    positions = []
    for path in sorted((GOLDEN_AUDIT / "var" / "sessions").glob("*.jsonl")):
        result = scan(path.read_bytes(), path.stem)
        assert result.damage is None
        view = replay_session(result.records)
        assert view is not None
        sessions[view.id] = {**session_json(view), "deleted": view.deleted}
        events[view.id] = [event_json(r) for r in result.records]
        keys_in(result.records, keys)
        positions += [r.position for r in result.records]
    settings = scan((GOLDEN_AUDIT / "var" / "settings.jsonl").read_bytes(), "settings")
    assert settings.damage is None
    keys_in(settings.records, keys)
    positions += [r.position for r in settings.records]
    return {
        "sessions": sessions,
        "events": events,
        "settings": settings_json(replay_settings(settings.records).shared),
        "settings_events": [event_json(r) for r in settings.records],
        "keys": sorted([*scope_key, *entry] for scope_key, entry in keys.items()),
        "positions": sorted(positions),
    }


def test_golden_audit_log_replays_to_the_committed_views() -> None:
    """Forks, edits, message deletes, restores, clears, keys and settings resets in today's
    format: these files are never regenerated, and must replay to the same views forever."""
    got = golden_audit_replay()
    assert got == orjson.loads((GOLDEN_AUDIT / "expected.json").read_bytes())
    # What an auditor would check by hand, so the expected file itself is not taken on trust.
    positions = got["positions"]
    assert positions == list(range(1, len(positions) + 1))  # type: ignore[arg-type]
    views = list(got["sessions"].values())  # type: ignore[attr-defined]
    restored = next(v for v in views if v["title"] == "Renamed")
    assert not restored["deleted"]
    assert [m["content"] for m in restored["messages"]] == [
        "Ünïcode\u00a0and  spaces: what is a fork?",
        "A new session starting from a point in another.",
    ]
    fork = next(v for v in views if v["title"] == "The fork")
    assert fork["forked_from"]["session_id"] == restored["id"]
    assert [m["content"] for m in fork["messages"]][-1] == "And then?"
    gone = next(v for v in views if v["title"] == "Deleted for good")
    assert gone["deleted"]
    assert gone["messages"] == []
    assert got["settings"]["max_tokens"] == 4096
    assert got["settings"]["theme"] == "dark"  # reset, then only max_tokens changed
    assert {k[1] for k in got["keys"]} == {  # type: ignore[attr-defined]
        "create-a",
        "msg-1",
        "fork-1",
        "restore-1",
        "reset-1",
    }


def test_each_user_has_their_own_settings_in_the_one_log() -> None:
    book = replay_settings(
        _events(
            SettingsChanged({"theme": "light"}),
            SettingsChanged({"theme": "auto"}, user_id="u1"),
            SettingsChanged({"max_tokens": 5}, user_id="u2"),
            SettingsReset(user_id="u1"),
            stream="settings",
        )
    )
    assert (book.shared.theme, book.shared.version) == ("light", 1)
    assert (book.of("u1").theme, book.of("u1").version) == ("dark", 4)  # reset: the defaults
    assert (book.of("u2").max_tokens, book.of("u2").theme, book.of("u2").version) == (5, "dark", 3)
    assert book.of("u3").version == 0
    assert book.version == 4
