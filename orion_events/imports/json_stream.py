"""A JSON file's top-level values, one at a time, built from ijson's prefix-free events.

Not `ijson.items`: the events it builds from carry each value's path as a string, so a value
nested n deep costs O(n²) (a 200 KB body of nested lists took gigabytes, and the process was
killed). `basic_parse` names no paths; the values are built here with an explicit stack, in
memory and time linear in the input, however deep (a LibreChat tree nests as deep as its
conversation is long).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson

Event = tuple[str, Any]


def events(file: IO[bytes], buffer: int) -> Iterator[Event]:
    """The file's parse events, without paths; numbers that are not integers as floats."""
    parsed: Iterator[Event] = ijson.basic_parse(file, use_float=True, buf_size=buffer)
    return parsed


def value(first: Event, rest: Iterator[Event]) -> Any:
    """The value that starts with event `first`, its remaining events taken from `rest`."""
    kind, scalar = first
    if kind == "start_map":
        root: Any = {}
    elif kind == "start_array":
        root = []
    else:
        return scalar
    # The container being filled, the key its next value goes under, whether it is a list; its
    # parents' the same, on the stack. Scalars (most events) take one comparison each way.
    top, key, in_list = root, None, kind == "start_array"
    parents: list[tuple[Any, Any, bool]] = []
    for kind, scalar in rest:
        if kind == "map_key":
            key = scalar
            continue
        if kind == "start_map":
            made: Any = {}
        elif kind == "start_array":
            made = []
        elif kind == "end_map" or kind == "end_array":
            if not parents:
                return root
            top, key, in_list = parents.pop()
            continue
        else:
            if in_list:
                top.append(scalar)
            else:
                top[key] = scalar
            continue
        if in_list:
            top.append(made)
        else:
            top[key] = made
        parents.append((top, key, in_list))
        top, key, in_list = made, None, kind == "start_array"
    raise ijson.IncompleteJSONError("the file ends inside a value")


def array_items(rest: Iterator[Event]) -> Iterator[Any]:
    """The items of the array whose `start_array` was just read."""
    for first in rest:
        if first[0] == "end_array":
            return
        yield value(first, rest)
    raise ijson.IncompleteJSONError("the file ends inside the list")
