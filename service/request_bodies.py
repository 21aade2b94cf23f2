"""The request bodies the API accepts, one typed description each, and the one way to read them.

Each body is a msgspec Struct: its fields are the fields the route accepts, those without a
default are required, and its constraints are the limits of orion_events.domain.rules (named
from there, never restated). `read_body` reads a request by it; the OpenAPI document's request
schemas are generated from the same Structs (service.openapi_schemas), so the two cannot drift.

The values themselves are checked once, by the domain rules the store applies to every command
(the Structs' constraints say the same rules to clients): msgspec's own decoding errors do not
name the field the way this API's 422s do, so it describes the bodies here but does not decode
them.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

import msgspec
import msgspec.inspect
import orjson
from aiohttp import web
from msgspec import UNSET, Meta, Struct, UnsetType

from orion_events.domain import rules
from orion_events.domain.errors import InvalidInput
from orion_events.domain.views import SettingsView
from service.errors import ApiError, bad_request, unknown_field

JSON = "application/json"

Title = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=rules.MAX_TITLE_CHARS,
        pattern=r"\S",
        description=f"A non-blank title of at most {rules.MAX_TITLE_CHARS} characters.",
    ),
]
MetadataKey = Annotated[str, Meta(min_length=1, max_length=rules.MAX_METADATA_KEY_CHARS)]
MetadataValue = Annotated[str, Meta(max_length=rules.MAX_METADATA_VALUE_CHARS)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Meta(
        max_length=rules.MAX_METADATA_KEYS,
        description=(
            f"At most {rules.MAX_METADATA_KEYS} string keys of 1 to "
            f"{rules.MAX_METADATA_KEY_CHARS} characters, each to a string of at most "
            f"{rules.MAX_METADATA_VALUE_CHARS} characters. Replaces the whole metadata."
        ),
    ),
]
Role = Annotated[str, Meta(extra_json_schema={"enum": sorted(rules.ROLES)})]
Content = Annotated[
    str,
    Meta(
        # maxLength counts characters; the rule is on UTF-8 bytes, which are never fewer.
        max_length=rules.MAX_CONTENT_BYTES,
        description="The message text: at most 1 MiB (1,048,576 bytes) of UTF-8.",
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=rules.MAX_NAME_CHARS)]
Version = Annotated[
    int, Meta(ge=1, description="The session's last event sequence number; also its ETag.")
]


class CreateSession(Struct, forbid_unknown_fields=True):
    title: Title | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class UpdateSession(Struct, forbid_unknown_fields=True):
    """Rename and/or replace the metadata; an omitted field stays as it is."""

    title: Title | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class NewMessage(Struct, forbid_unknown_fields=True):
    role: Role
    content: Content
    agent: Name | None = None
    model: Name | None = None
    parent_id: (
        Annotated[
            uuid.UUID | None,
            Meta(
                description="The message this one replies to: absent, the current leaf "
                "(current_id); null, a new first message; a message's id, a reply to it (a new "
                "branch when it has replies already). An unknown or deleted id is 422."
            ),
        ]
        | UnsetType
    ) = UNSET


class SetCurrent(Struct, forbid_unknown_fields=True):
    """Make the branch through message_id current: its leaf is reached by following, at each
    step, the most recently added reply."""

    message_id: uuid.UUID


class EditMessage(Struct, forbid_unknown_fields=True):
    content: Content


class Fork(Struct, forbid_unknown_fields=True):
    """Fork the whole session, or its messages up to message_id (inclusive), or the session as
    it was at version; not both."""

    message_id: uuid.UUID | UnsetType = UNSET
    version: Version | UnsetType = UNSET
    title: Title | UnsetType = UNSET


class NewUser(Struct, forbid_unknown_fields=True):
    """A user, and their first key (shown once, in the answer)."""

    name: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=rules.MAX_USER_NAME_CHARS,
            description="1 to 64 characters, no control characters, no space at either end; "
            "unique, whatever the case.",
        ),
    ]
    role: Annotated[str, Meta(extra_json_schema={"enum": ["user", "admin"]})] = "user"


_SETTINGS = SettingsView()  # the defaults


class SettingsPatch(Struct, forbid_unknown_fields=True):
    """Any subset of the settings; one bad key or value rejects all of it."""

    theme: Annotated[str, Meta(extra_json_schema={"enum": sorted(rules.THEMES)})] = _SETTINGS.theme
    language: Annotated[
        str,
        Meta(
            max_length=rules.MAX_LANGUAGE_CHARS,
            pattern=f"^{rules.LANGUAGE_PATTERN}$",
            description="A short language tag such as en or pt-BR.",
        ),
    ] = _SETTINGS.language
    enable_sounds: bool = _SETTINGS.enable_sounds
    enable_notifications: bool = _SETTINGS.enable_notifications
    auto_play_tts: bool = _SETTINGS.auto_play_tts
    default_model: Annotated[
        str, Meta(min_length=1, max_length=rules.MAX_NAME_CHARS, pattern=r"\S")
    ] = _SETTINGS.default_model
    temperature: Annotated[float, Meta(ge=0, le=rules.MAX_TEMPERATURE)] = _SETTINGS.temperature
    max_tokens: Annotated[int, Meta(ge=1, le=rules.MAX_TOKENS)] = _SETTINGS.max_tokens


REQUEST_BODIES: tuple[type[Struct], ...] = (
    CreateSession,
    UpdateSession,
    NewMessage,
    EditMessage,
    SetCurrent,
    Fork,
    SettingsPatch,
    NewUser,
)
# What a Struct cannot say about itself, added to its generated schema.
SCHEMA_EXTRAS: dict[str, dict[str, Any]] = {
    "Fork": {"not": {"required": ["message_id", "version"]}},
}


async def read_body(
    request: web.Request, kind: type[Struct], *, allow_empty: bool = False
) -> dict[str, Any]:
    """The request's body: a JSON object (UTF-8 application/json) holding only `kind`'s fields,
    and every field of it that has no default. `allow_empty`: no body at all reads as {}."""
    body = await request.read()  # raises 413 past the app's client_max_size
    if not body.strip() and allow_empty:
        return {}
    if request.content_type != JSON:
        raise ApiError(415, "unsupported_media_type", f"send the body as {JSON}")
    charset = request.charset
    if charset is not None and charset.lower() not in {"utf-8", "utf8"}:
        raise ApiError(415, "unsupported_media_type", "the body must be UTF-8")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the body is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request("the body must be a JSON object")
    allowed, required = _fields(kind)
    for name in value:
        if name not in allowed:
            raise unknown_field(name)
    for name in required:
        if name not in value:
            raise InvalidInput(f"{name} is required", field=name)
    nullable, integers = _kinds(kind)
    for name, given in value.items():
        if given is None and name not in nullable:
            raise InvalidInput(f"{name} may not be null", field=name)
        # JSON Schema's integer is any number without a fraction: 3.0 is one, as the document says.
        if isinstance(given, float) and name in integers and given.is_integer():
            value[name] = int(given)
    return value


@functools.cache
def _fields(kind: type[Struct]) -> tuple[frozenset[str], tuple[str, ...]]:
    """`kind`'s field names, and those it requires in their order."""
    fields = msgspec.structs.fields(kind)
    return (
        frozenset(field.encode_name for field in fields),
        tuple(field.encode_name for field in fields if field.required),
    )


@functools.cache
def _kinds(kind: type[Struct]) -> tuple[frozenset[str], frozenset[str]]:
    """`kind`'s fields that may be null, and those that are integers."""
    fields = msgspec.structs.fields(kind)
    return (
        frozenset(f.encode_name for f in fields if _admits(f.type, msgspec.inspect.NoneType)),
        frozenset(f.encode_name for f in fields if _admits(f.type, msgspec.inspect.IntType)),
    )


def _admits(annotation: Any, kind: type[msgspec.inspect.Type]) -> bool:
    info = msgspec.inspect.type_info(annotation)
    while isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    options = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    for option in options:
        while isinstance(option, msgspec.inspect.Metadata):
            option = option.type
        if isinstance(option, kind):
            return True
    return False
