"""The rules a command's fields must meet before any event is written (SPEC §4)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orion_events.domain.errors import InvalidInput

ROLES = frozenset({"system", "user", "assistant", "tool"})
MAX_CONTENT_BYTES = 1024 * 1024
MAX_TITLE_CHARS = 200
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_NAME_CHARS = 200  # agent and model names
THEMES = frozenset({"dark", "light", "auto"})
LANGUAGE_PATTERN = r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*"  # a short BCP 47 tag: en, pt-BR
MAX_LANGUAGE_CHARS = 35
MAX_TEMPERATURE = 2.0
MAX_TOKENS = 1_000_000
_LANGUAGE = re.compile(LANGUAGE_PATTERN)


def title(value: Any, field: str = "title") -> str:
    if not isinstance(value, str):
        raise InvalidInput("title must be a string", field=field)
    if not value.strip():
        raise InvalidInput("title must not be empty", field=field)
    if len(value) > MAX_TITLE_CHARS:
        raise InvalidInput(f"title is longer than {MAX_TITLE_CHARS} characters", field=field)
    return value


def metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("metadata must be an object", field=field)
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidInput(f"metadata has more than {MAX_METADATA_KEYS} keys", field=field)
    for key, item in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_METADATA_KEY_CHARS:
            raise InvalidInput(
                f"metadata keys must be 1 to {MAX_METADATA_KEY_CHARS} characters", field=field
            )
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE_CHARS:
            raise InvalidInput(
                f"metadata[{key!r}] must be a string of at most "
                f"{MAX_METADATA_VALUE_CHARS} characters",
                field=field,
            )
    return dict(value)


def role(value: Any) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(sorted(ROLES))}", field="role")
    return value


def content(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("content must be a string", field="content")
    # Cheap bound first: a str of n code points encodes to at most 4n bytes.
    if len(value) * 4 > MAX_CONTENT_BYTES and len(value.encode()) > MAX_CONTENT_BYTES:
        raise InvalidInput("content is larger than 1 MiB", field="content")
    return value


def optional_name(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise InvalidInput(
            f"{field} must be a non-empty string of at most {MAX_NAME_CHARS} characters",
            field=field,
        )
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false", field=key)
    return value


def _theme(key: str, value: Any) -> str:
    if not isinstance(value, str) or value not in THEMES:
        raise InvalidInput(f"theme must be one of {', '.join(sorted(THEMES))}", field=key)
    return value


def _language(key: str, value: Any) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_LANGUAGE_CHARS
        or not _LANGUAGE.fullmatch(value)
    ):
        raise InvalidInput(
            "language must be a short language tag such as 'en' or 'pt-BR'", field=key
        )
    return value


def _model(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
        raise InvalidInput(
            f"default_model must be a non-empty string of at most {MAX_NAME_CHARS} characters",
            field=key,
        )
    return value


def _temperature(key: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0.0 <= value <= MAX_TEMPERATURE
    ):
        raise InvalidInput(f"temperature must be a number from 0.0 to {MAX_TEMPERATURE}", field=key)
    return float(value)


def _max_tokens(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS:
        raise InvalidInput(f"max_tokens must be an integer from 1 to {MAX_TOKENS}", field=key)
    return value


SETTINGS_RULES = {
    "theme": _theme,
    "language": _language,
    "enable_sounds": _boolean,
    "enable_notifications": _boolean,
    "auto_play_tts": _boolean,
    "default_model": _model,
    "temperature": _temperature,
    "max_tokens": _max_tokens,
}


def settings_changes(value: Any) -> dict[str, Any]:
    """A PATCH body checked whole: one bad key or value rejects all of it."""
    if not isinstance(value, Mapping):
        raise InvalidInput("settings must be an object")
    changes = {}
    for key, item in value.items():
        rule = SETTINGS_RULES.get(key)
        if rule is None:
            raise InvalidInput(f"unknown setting {key!r}", field=key)
        changes[key] = rule(key, item)
    return changes


MAX_USER_NAME_CHARS = 64
_USER_NAME = re.compile(r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?")


def user_name(value: Any) -> str:
    """A user's name: 1 to 64 characters, no control characters, no space at either end."""
    if not isinstance(value, str):
        raise InvalidInput("name must be a string", field="name")
    if not 0 < len(value) <= MAX_USER_NAME_CHARS or not _USER_NAME.fullmatch(value):
        raise InvalidInput(
            f"name must be 1 to {MAX_USER_NAME_CHARS} characters, without control characters "
            "or space at either end",
            field="name",
        )
    return value


def user_role(value: Any) -> str:
    if value not in ("user", "admin"):
        raise InvalidInput('role must be "user" or "admin"', field="role")
    return str(value)
