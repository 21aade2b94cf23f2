"""`POST /api/import?format=…` (SPEC §10): another tool's export as the body, imported as the
caller's sessions.

The body goes to a temporary file as it arrives, never whole into memory, up to the import
limit (64 MiB by default, `ORION_IMPORT_MAX_MB`); the file is then read a conversation at a time.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from aiohttp import web

from orion_events.domain.errors import InvalidInput
from orion_events.imports.conversation import SOURCES
from orion_events.imports.importer import import_file
from orion_events.imports.source_file import SourceFile, UnknownFormat
from service.access import owner_of_new
from service.answers import store_of
from service.app_keys import CONFIG
from service.errors import ApiError
from service.payloads import JSON, respond

_CHUNK = 256 * 1024


async def import_conversations(request: web.Request) -> web.Response:
    format_name = request.query.get("format")
    if format_name is not None and format_name not in SOURCES:
        raise InvalidInput(f"format must be one of {', '.join(SOURCES)}", field="format")
    if request.content_type != JSON:
        raise ApiError(415, "unsupported_media_type", f"send the export as {JSON}")
    limit = request.app[CONFIG].import_max_mb * 1024 * 1024
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    path = await _body_to_file(request, limit)
    try:
        try:
            source = await asyncio.to_thread(SourceFile, path, format_name)
        except UnknownFormat as exc:
            raise InvalidInput(f"{exc}; nothing was imported", field="body") from None
        try:
            report = await import_file(store_of(request), source, owner=owner_of_new(request))
        finally:
            source.close()
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return respond(report.as_json())


async def _body_to_file(request: web.Request, limit: int) -> Path:
    """The body in a new temporary file (removed again if the body is refused)."""
    handle, name = await asyncio.to_thread(tempfile.mkstemp, prefix="orion-import-", suffix=".json")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            size = 0
            async for chunk in request.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                await asyncio.to_thread(out.write, chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"an import may be {limit // (1024 * 1024)} MiB at most (ORION_IMPORT_MAX_MB); "
        "import a larger export with `orion-events import`",
    )
