"""Stream names: which logs exist besides the sessions', and what a session's stream id is."""

from __future__ import annotations

import re

SETTINGS_STREAM = "settings"
OPERATIONS_STREAM = "operations"  # the operator log: purges and other offline actions
USERS_STREAM = "users"  # users and their API keys (SPEC §9)
# Logs that live beside the sessions' rather than among them.
TOP_LEVEL_STREAMS = (SETTINGS_STREAM, OPERATIONS_STREAM, USERS_STREAM)
# A session's id, and so its stream's name: a canonical (lower-case, hyphenated) UUID.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_session_id(value: str) -> bool:
    return CANONICAL_UUID.fullmatch(value) is not None
