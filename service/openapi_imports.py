"""The OpenAPI schemas of POST /api/import (SPEC §10): what it takes and what it answers."""

from __future__ import annotations

from service.openapi_schemas import COUNT, UUID, Schema


def import_schemas() -> dict[str, Schema]:
    return {
        "ImportFile": {
            "description": (
                "An export as the tool wrote it: ChatGPT's or Claude's conversations.json, "
                "Open WebUI's chat export (arrays of conversations), a LibreChat conversation "
                "export, or this service's export (json) of one session or an array of them."
            ),
            "type": ["array", "object"],
        },
        "ImportReport": {
            "type": "object",
            "required": ["imported", "skipped", "failed", "sessions"],
            "properties": {
                "imported": {**COUNT, "description": "Conversations written as new sessions."},
                "skipped": {
                    **COUNT,
                    "description": "Conversations the caller had imported before: not written.",
                },
                "failed": {
                    "type": "array",
                    "description": "Conversations that could not be read or made into a "
                    "session whole; nothing of them was written.",
                    "items": {
                        "type": "object",
                        "required": ["index", "source_id", "reason"],
                        "properties": {
                            "index": {**COUNT, "description": "Its place in the file, from 0."},
                            "source_id": {"type": ["string", "null"]},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "sessions": {
                    "type": "array",
                    "items": UUID,
                    "description": "The new sessions' ids, in the file's order.",
                },
            },
        },
    }
