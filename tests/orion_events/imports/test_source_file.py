"""An export file read a conversation at a time (imports/source_file.py): its format told from
its first item, or named; a byte-order mark; an empty list; a conversation that cannot be read
reported where it stands; a file cut short; and the parse never holding more than one item."""

from __future__ import annotations

import resource
from pathlib import Path

import orjson
import pytest

from orion_events.imports.source_file import SourceFile, UnknownFormat

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "import"


def read(path: Path, format_name: str | None = None) -> tuple[str, list[tuple[int, str | None]]]:
    """The format found, and each item's (index, source id, or its reason when it failed)."""
    with SourceFile(path, format_name) as source:
        return source.format.name, [
            (item.index, item.source_id if item.reason is None else item.reason)
            for item in source.items()
        ]


def source_id(item: dict[str, str]) -> str:
    return item.get("conversation_id") or item["id"]


@pytest.mark.parametrize(
    ("fixture", "name"),
    [
        ("chatgpt.json", "chatgpt"),
        ("openwebui.json", "openwebui"),
        ("librechat-tree.json", "librechat"),
        ("librechat-flat.json", "librechat"),
        ("claude.json", "claude"),
    ],
)
def test_each_fixture_is_told_by_its_first_item(fixture: str, name: str) -> None:
    found, items = read(FIXTURES / fixture)
    assert found == name
    assert read(FIXTURES / fixture, name) == (found, items)
    for other in {"chatgpt", "openwebui", "librechat", "claude", "orion"} - {name}:
        with pytest.raises(UnknownFormat, match="the file is not"):
            read(FIXTURES / fixture, other)


def test_an_export_of_this_service_is_one_object_or_a_list(tmp_path: Path) -> None:
    export = {
        "session": {
            "id": "s-1",
            "title": "T",
            "created_at": "2024-01-01T00:00:00.000000Z",
            "metadata": {},
            "current_id": "m",
            "messages": [
                {"id": "m", "role": "user", "content": "hi", "parent_id": None,
                 "timestamp": "2024-01-01T00:00:00.000000Z", "agent": None, "model": None}
            ],
        },
        "events": [],
    }  # fmt: skip
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    one.write_bytes(orjson.dumps(export))
    many.write_bytes(orjson.dumps([export, export]))
    assert read(one) == ("orion", [(0, "s-1")])
    assert read(many) == ("orion", [(0, "s-1"), (1, "s-1")])


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "chatgpt.json").read_bytes())
    assert read(path) == read(FIXTURES / "chatgpt.json")


def test_an_empty_list_has_nothing_to_import(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b" [ ] ")
    assert read(path)[1] == []
    assert read(path, "chatgpt") == ("chatgpt", [])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the file is empty"),
        (b"   ", "the file is empty"),
        (b"nope", "not JSON"),
        (b"[nope", "not JSON"),
        (b'"a string"', "no conversations"),
        (b"[1]", "no known format"),
        (b'{"title": "x"}', "no known format"),
        (b'[{"title": "x"}, {"mapping": {}}]', "no known format"),
    ],
)
def test_a_file_of_no_known_format_is_refused_on_opening(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "other.json"
    path.write_bytes(content)
    with pytest.raises(UnknownFormat, match=says):
        SourceFile(path)


def test_an_item_that_is_no_conversation_fails_alone(tmp_path: Path) -> None:
    items = orjson.loads((FIXTURES / "chatgpt.json").read_bytes())
    path = tmp_path / "mixed.json"
    path.write_bytes(orjson.dumps([items[0], 7, {"id": "x"}, items[2]]))
    _, found = read(path)
    assert found == [
        (0, source_id(items[0])),
        (1, "a int, not a conversation"),
        (2, "no mapping of messages"),
        (3, source_id(items[2])),
    ]


def test_a_file_cut_short_ends_with_a_failure_where_it_breaks(tmp_path: Path) -> None:
    whole = (FIXTURES / "chatgpt.json").read_bytes()
    items = orjson.loads(whole)
    path = tmp_path / "cut.json"
    path.write_bytes(b"[" + orjson.dumps(items[0]) + b", " + orjson.dumps(items[2])[:50])
    _, found = read(path)
    assert found[0] == (0, source_id(items[0]))
    assert found[1][0] == 1
    assert str(found[1][1]).startswith("the file breaks off here")
    assert len(found) == 2


def test_items_are_parsed_one_at_a_time(tmp_path: Path) -> None:
    """A conversation is read before the next one is parsed: after the first item, the parse
    has not gone far past it (a whole-file parse would have read everything)."""
    items = orjson.loads((FIXTURES / "chatgpt.json").read_bytes())
    big = [items[0]] * 2000
    path = tmp_path / "big.json"
    path.write_bytes(orjson.dumps(big))
    size = path.stat().st_size
    with SourceFile(path) as source:
        first = next(source.items())
        assert first.conversation is not None
        assert source.position < size / 10


def test_values_nested_deep_cost_memory_in_proportion_to_the_file(tmp_path: Path) -> None:
    """A list 100,000 deep inside a conversation (a 200 KB file) is read in linear memory: parse
    events that carry each value's path made it quadratic, gigabytes, and the process was
    killed. A LibreChat tree nests as deep as its conversation is long."""
    item = orjson.loads((FIXTURES / "chatgpt.json").read_bytes())[0]
    depth = 100_000
    raw = orjson.dumps([item])[:-2] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}]"
    path = tmp_path / "deep.json"
    path.write_bytes(raw)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert read(path) == ("chatgpt", [(0, source_id(item))])
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024  # MiB of lists at most, not gigabytes of paths
    nested = tmp_path / "nested.json"
    nested.write_bytes(b"[" * depth + b"]" * depth)
    with pytest.raises(UnknownFormat, match="no known format"):
        SourceFile(nested)
