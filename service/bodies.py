"""Long JSON bodies in pieces: encoded a slice at a time, sent a piece at a time.

A 20,000-message session is an 8 MB body. Encoded in one `orjson.dumps` it holds the GIL for
~7 ms in one C call (the switch interval cannot cut into it), and written in one piece the
event loop copies it whole into the transport's buffer (~5 ms more): every other request waits
out both. Here a long list is encoded a slice of about PIECE bytes at a time, on the read
thread, and the response writes those pieces one by one with a Content-Length, so no step
holds the GIL or the loop for more than a piece's worth. The bytes are exactly those of
`orjson.dumps(value)`: clients, ETags and cached bodies cannot tell the difference.

A long list may come as `Mapped(items, each)`: its JSON objects are made a slice at a time and
dropped with it. Made all at once, 20,000 message dicts were freed all at once too, in one
cascade of deallocations that held the GIL for ~6 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import attrs
import orjson
from aiohttp import web

PIECE = 32 * 1024  # bytes: ~30 µs to encode or copy, a slice no request notices
SHORT = 64  # a list this short is encoded whole


class Sliceable(Protocol):
    """A list, or a session's packed messages: what can be cut into slices."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: slice, /) -> Sequence[Any]: ...


@attrs.frozen
class Mapped:
    """The list `[each(item) for item in items]`, made for json_pieces a slice at a time."""

    items: Sliceable
    each: Callable[[Any], Any]


def json_pieces(value: Any) -> list[bytes]:
    """`orjson.dumps(value)` as pieces of about PIECE bytes (one, for a small value)."""
    pieces: list[bytes] = []
    small: list[bytes] = []  # bytes too short to be a piece of their own, joined when many
    held = 0
    for part in _parts(value):
        small.append(part)
        held += len(part)
        if held >= PIECE:
            pieces.append(b"".join(small))
            small, held = [], 0
    if small or not pieces:
        pieces.append(b"".join(small))
    return pieces


def _parts(value: Any) -> Iterator[bytes]:
    """Consecutive bytes of `orjson.dumps(value)`: a long list a slice at a time, the others
    whole. orjson writes compact JSON, so a container's text is its members' joined by commas."""
    if isinstance(value, dict) and _has_long_list(value):
        yield b"{"
        for n, (key, member) in enumerate(value.items()):
            yield (b"" if n == 0 else b",") + orjson.dumps(key) + b":"
            yield from _parts(member)
        yield b"}"
    elif isinstance(value, Mapped):
        yield from _list_parts(value.items, value.each)
    elif isinstance(value, list) and len(value) > SHORT:
        yield from _list_parts(value, None)
    else:
        yield orjson.dumps(value)


def _list_parts(items: Sliceable, each: Callable[[Any], Any] | None) -> Iterator[bytes]:
    yield b"["
    start, count = 0, SHORT
    while start < len(items):
        chunk = items[start : start + count]
        encoded = orjson.dumps(chunk if each is None else [each(item) for item in chunk])
        del chunk  # its objects die here, a slice's worth at a time
        yield (b"" if start == 0 else b",") + encoded[1:-1]
        start += count
        # Slices of about PIECE bytes, whatever the items' sizes.
        count = max(1, count * PIECE // max(len(encoded), 1))
    yield b"]"


def _has_long_list(value: Mapping[str, Any]) -> bool:
    for member in value.values():
        if isinstance(member, Mapped) or (isinstance(member, list) and len(member) > SHORT):
            return True
        if isinstance(member, dict) and _has_long_list(member):
            return True
    return False


async def send_pieces(
    request: web.Request,
    pieces: Sequence[bytes],
    *,
    content_type: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """A response of these pieces: one piece goes as a plain body, more go one by one."""
    if len(pieces) == 1:
        return web.Response(
            body=pieces[0], status=status, content_type=content_type, headers=headers
        )
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = content_type
    response.content_length = sum(len(piece) for piece in pieces)
    await response.prepare(request)
    if request.method != "HEAD":  # a HEAD is answered by the GET route, headers alone
        for piece in pieces:
            await response.write(piece)  # waits while the client is behind: a piece at a time
    await response.write_eof()
    return response


__all__ = ["PIECE", "Mapped", "json_pieces", "send_pieces"]
