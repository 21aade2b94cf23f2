"""The settings routes of SPEC §4 over HTTP: defaults, partial update, validation, reset.

A rejected PATCH must change nothing: checked on GET and on settings.jsonl's bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.service.expect import JSON_HEADERS, etag_version, event_types, expect_error

DEFAULTS = {
    "theme": "dark",
    "language": "en",
    "enable_sounds": True,
    "enable_notifications": True,
    "auto_play_tts": False,
    "default_model": "qwen2.5:1.5b",
    "temperature": 0.7,
    "max_tokens": 2048,
}


# -- helpers ----------------------------------------------------------------------------------


def check_settings(body: Any) -> dict[str, Any]:
    """The full settings object: every key, each of the right JSON type."""
    assert isinstance(body, dict)
    assert set(body) == set(DEFAULTS)
    for key in ("enable_sounds", "enable_notifications", "auto_play_tts"):
        assert type(body[key]) is bool
    assert type(body["max_tokens"]) is int
    assert type(body["temperature"]) in (int, float)
    for key in ("theme", "language", "default_model"):
        assert isinstance(body[key], str)
    return body


async def get_settings(client: Any) -> dict[str, Any]:
    response = await client.get("/api/settings")
    assert response.status == 200
    assert response.content_type == "application/json"
    return check_settings(await response.json())


async def patch(client: Any, changes: dict[str, Any]) -> dict[str, Any]:
    response = await client.patch("/api/settings", json=changes)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return check_settings(await response.json())


def settings_log(data_dir: Path) -> bytes | None:
    path = data_dir / "settings.jsonl"
    return path.read_bytes() if path.exists() else None


def settings_log_types(data_dir: Path) -> list[str]:
    data = settings_log(data_dir)
    assert data is not None
    assert data.endswith(b"\n")
    return event_types(data)


# -- success paths ----------------------------------------------------------------------------


async def test_defaults(client, data_dir) -> None:
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"theme": "light"},
        {"theme": "auto"},
        {"language": "pt-BR"},
        {"language": "de"},
        {"enable_sounds": False},
        {"enable_notifications": False},
        {"auto_play_tts": True},
        {"default_model": "llama3.2:3b"},
        {"temperature": 0.0},
        {"temperature": 2.0},
        {"temperature": 1.25},
        {"max_tokens": 1},
        {"max_tokens": 1_000_000},
    ],
)
async def test_patch_one_key_returns_full_settings(client, data_dir, changes) -> None:
    body = await patch(client, changes)
    assert body == {**DEFAULTS, **changes}
    assert await get_settings(client) == body
    assert settings_log_types(data_dir) == ["settings_changed"]


async def test_patch_several_keys_and_successive_patches_accumulate(client, data_dir) -> None:
    first = await patch(client, {"theme": "light", "max_tokens": 512})
    assert first == {**DEFAULTS, "theme": "light", "max_tokens": 512}
    second = await patch(client, {"temperature": 1.5, "auto_play_tts": True})
    expected = {
        **DEFAULTS,
        "theme": "light",
        "max_tokens": 512,
        "temperature": 1.5,
        "auto_play_tts": True,
    }
    assert second == expected
    assert await get_settings(client) == expected
    assert settings_log_types(data_dir) == ["settings_changed", "settings_changed"]


async def test_integer_temperature_is_a_number_in_range(client) -> None:
    body = await patch(client, {"temperature": 1})
    assert body["temperature"] == 1.0
    assert (await get_settings(client))["temperature"] == 1.0


async def test_patch_with_an_empty_object_changes_nothing(client) -> None:
    assert await patch(client, {}) == DEFAULTS
    assert await get_settings(client) == DEFAULTS


async def test_reset_returns_defaults(client, data_dir) -> None:
    changed = {
        "theme": "auto",
        "language": "fr",
        "enable_sounds": False,
        "enable_notifications": False,
        "auto_play_tts": True,
        "default_model": "other",
        "temperature": 0.1,
        "max_tokens": 99,
    }
    assert await patch(client, changed) == changed
    response = await client.post("/api/settings/reset")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert check_settings(await response.json()) == DEFAULTS
    assert await get_settings(client) == DEFAULTS
    assert settings_log_types(data_dir) == ["settings_changed", "settings_reset"]


async def test_reset_with_defaults_already_in_place(client) -> None:
    response = await client.post("/api/settings/reset")
    assert response.status == 200
    assert await response.json() == DEFAULTS


async def test_settings_do_not_touch_sessions(client, data_dir) -> None:
    await patch(client, {"theme": "light"})
    assert list((data_dir / "sessions").iterdir()) == []
    response = await client.get("/api/sessions")
    assert await response.json() == []


# -- validation -------------------------------------------------------------------------------


INVALID = [
    ({"theme": "blue"}, "theme"),
    ({"theme": "Dark"}, "theme"),
    ({"theme": ""}, "theme"),
    ({"theme": 1}, "theme"),
    ({"theme": None}, "theme"),
    ({"theme": ["dark"]}, "theme"),
    ({"theme": {"name": "dark"}}, "theme"),
    ({"language": ""}, "language"),
    ({"language": 1}, "language"),
    ({"language": None}, "language"),
    ({"language": "this is not a language tag"}, "language"),
    ({"enable_sounds": 1}, "enable_sounds"),
    ({"enable_sounds": "true"}, "enable_sounds"),
    ({"enable_sounds": None}, "enable_sounds"),
    ({"enable_notifications": 0}, "enable_notifications"),
    ({"enable_notifications": "false"}, "enable_notifications"),
    ({"auto_play_tts": 1}, "auto_play_tts"),
    ({"auto_play_tts": "true"}, "auto_play_tts"),
    ({"default_model": ""}, "default_model"),
    ({"default_model": 5}, "default_model"),
    ({"default_model": None}, "default_model"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 2.1}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"temperature": None}, "temperature"),
    ({"temperature": "0.5"}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": 1_000_001}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": "2048"}, "max_tokens"),
    ({"max_tokens": None}, "max_tokens"),
    ({"colour": "red"}, "colour"),
    ({"version": 3}, "version"),
    ({"Theme": "light"}, "Theme"),
]


INVALID_IDS = [orjson.dumps(changes).decode() for changes, _ in INVALID]


@pytest.mark.parametrize(("changes", "field"), INVALID, ids=INVALID_IDS)
async def test_invalid_patch_is_422_and_changes_nothing(client, data_dir, changes, field) -> None:
    response = await client.patch("/api/settings", json=changes)
    await expect_error(client, response, 422, field=field)
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


@pytest.mark.parametrize(("changes", "field"), INVALID, ids=INVALID_IDS)
async def test_invalid_patch_after_changes_keeps_them(client, data_dir, changes, field) -> None:
    current = await patch(client, {"theme": "light", "max_tokens": 100})
    before = settings_log(data_dir)
    response = await client.patch("/api/settings", json=changes)
    await expect_error(client, response, 422, field=field)
    assert await get_settings(client) == current
    assert settings_log(data_dir) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"theme": "light", "temperature": 5}, "temperature"),
        ({"max_tokens": 10, "nonsense": True}, "nonsense"),
        ({"enable_sounds": False, "auto_play_tts": "yes"}, "auto_play_tts"),
    ],
)
async def test_one_bad_key_rejects_the_whole_patch(client, data_dir, changes, field) -> None:
    response = await client.patch("/api/settings", json=changes)
    await expect_error(client, response, 422, field=field)
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"{theme: dark}", b"\xff", b"[]", b'[{"theme": "light"}]', b'"light"', b"1"],
    ids=["empty", "unclosed", "unquoted", "bad-utf8", "array", "array-of-object", "string", "num"],
)
async def test_malformed_or_non_object_patch_is_400(client, data_dir, raw) -> None:
    response = await client.patch("/api/settings", data=raw, headers=JSON_HEADERS)
    await expect_error(client, response, 400)
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
async def test_patch_with_wrong_content_type_is_415(client, data_dir, content_type) -> None:
    response = await client.patch(
        "/api/settings", data=b'{"theme": "light"}', headers={"Content-Type": content_type}
    )
    await expect_error(client, response, 415)
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


async def test_patch_over_2_mib_is_413(client, data_dir) -> None:
    core = b'{"theme": "light"}'
    response = await client.patch(
        "/api/settings",
        data=io.BytesIO(core + b" " * (2 * 1024 * 1024 + 1 - len(core))),
        headers=JSON_HEADERS,
    )
    await expect_error(client, response, 413)
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


async def test_patch_over_a_small_max_body_is_413(make_client, data_dir) -> None:
    client = await make_client(max_body=64)
    response = await client.patch(
        "/api/settings", json={"default_model": "m" * 100}, headers=JSON_HEADERS
    )
    await expect_error(client, response, 413)
    assert settings_log(data_dir) is None
    assert (await patch(client, {"theme": "light"}))["theme"] == "light"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/settings"),
        ("POST", "/api/settings"),
        ("DELETE", "/api/settings"),
        ("GET", "/api/settings/reset"),
        ("PATCH", "/api/settings/reset"),
    ],
)
async def test_wrong_method_on_settings_is_405(client, data_dir, method, path) -> None:
    response = await client.request(method, path, json={"theme": "light"})
    await expect_error(client, response, 405)
    assert "Allow" in response.headers
    assert await get_settings(client) == DEFAULTS
    assert settings_log(data_dir) is None


async def test_unknown_settings_path_is_404(client) -> None:
    response = await client.get("/api/settings/theme")
    error = await expect_error(client, response, 404)
    assert error["code"] == "not_found"


# -- ETag and If-Match (SPEC §6): the settings log's version, like a session's ------------------


def settings_version(data_dir: Path) -> int:
    """The settings log's version: its last seq, 0 while it has none."""
    data = settings_log(data_dir)
    return 0 if data is None else orjson.loads(data.splitlines()[-1])["seq"]


async def test_every_settings_answer_carries_the_log_version_as_etag(client, data_dir) -> None:
    answers = [
        ("GET", "/api/settings", None, 0),
        ("PATCH", "/api/settings", {"theme": "light"}, 1),
        ("GET", "/api/settings", None, 1),
        ("PATCH", "/api/settings", {"theme": "light"}, 1),  # changes nothing: no event
        ("PATCH", "/api/settings", {"max_tokens": 64, "language": "de"}, 2),
        ("POST", "/api/settings/reset", None, 3),
        ("GET", "/api/settings", None, 3),
    ]
    for method, path, body, version in answers:
        response = await client.request(method, path, json=body)
        assert response.status == 200, await response.text()
        assert etag_version(response) == version, f"{method} {path} {body}"
        assert settings_version(data_dir) == version


def stale_tags(version: int) -> dict[str, str]:
    """If-Match values that do not name `version`: each must be 412, as on session routes."""
    return {
        "behind": f'"{version - 1}"',
        "ahead": f'"{version + 1}"',
        "weak-behind": f'W/"{version - 1}"',
        "garbage": "not-a-tag",
        "empty": '""',
        "huge": f'"{"9" * 5000}"',  # past Python's int() digit limit: never a 500
    }


SETTINGS_WRITES = {
    "patch": ("PATCH", "/api/settings", {"theme": "auto", "temperature": 1.5}),
    "reset": ("POST", "/api/settings/reset", None),
}


@pytest.mark.parametrize("tag", list(stale_tags(1)))
@pytest.mark.parametrize("write", list(SETTINGS_WRITES))
async def test_a_stale_if_match_is_412_and_appends_nothing(client, data_dir, write, tag) -> None:
    method, path, body = SETTINGS_WRITES[write]
    current = await patch(client, {"theme": "light", "max_tokens": 100})
    version = settings_version(data_dir)
    assert version == 1
    before = settings_log(data_dir)

    response = await client.request(
        method, path, json=body, headers={"If-Match": stale_tags(version)[tag]}
    )
    error = await expect_error(client, response, 412)
    assert error["code"] == "precondition_failed"
    assert settings_log(data_dir) == before
    assert await get_settings(client) == current

    # The version the ETag gave passes the same check, and the ETag moves on.
    response = await client.request(method, path, json=body, headers={"If-Match": f'"{version}"'})
    assert response.status == 200, await response.text()
    assert etag_version(response) == version + 1 == settings_version(data_dir)
    assert check_settings(await response.json()) == (
        {**current, **body} if body is not None else DEFAULTS
    )
    assert settings_log(data_dir) != before


@pytest.mark.parametrize("write", list(SETTINGS_WRITES))
async def test_if_match_on_settings_never_changed(client, data_dir, write) -> None:
    """Before the first change the settings are at version 0: "0" matches, "1" does not."""
    method, path, body = SETTINGS_WRITES[write]
    response = await client.request(method, path, json=body, headers={"If-Match": '"1"'})
    await expect_error(client, response, 412)
    assert settings_log(data_dir) is None
    response = await client.request(method, path, json=body, headers={"If-Match": '"0"'})
    assert response.status == 200, await response.text()
    assert etag_version(response) == 1 == settings_version(data_dir)


# A weak tag alone never matches (If-Match compares strongly): tests/service/test_if_match.py.
@pytest.mark.parametrize("tag", ["*", ' "1" ', 'W/"1", "1"', '"1", "7"', '"7", "1"'])
async def test_if_match_that_matches_like_on_sessions(client, data_dir, tag) -> None:
    await patch(client, {"theme": "light"})
    response = await client.patch(
        "/api/settings", json={"language": "fr"}, headers={"If-Match": tag}
    )
    assert response.status == 200, await response.text()
    assert etag_version(response) == 2 == settings_version(data_dir)
    assert (await get_settings(client))["language"] == "fr"


async def test_a_stale_if_match_on_a_patch_that_would_change_nothing_is_412(
    client, data_dir
) -> None:
    await patch(client, {"theme": "light"})
    await patch(client, {"theme": "dark"})
    before = settings_log(data_dir)
    response = await client.patch(
        "/api/settings", json={"theme": "dark"}, headers={"If-Match": '"1"'}
    )
    await expect_error(client, response, 412)
    assert settings_log(data_dir) == before


# -- retries of a reset ---------------------------------------------------------------------------


async def reset_with_key(client: Any, key: str) -> Any:
    return await client.post("/api/settings/reset", headers={"Idempotency-Key": key})


async def test_a_retried_reset_is_applied_once_and_answered_as_the_first(
    make_client, data_dir
) -> None:
    client = await make_client()
    await patch(client, {"theme": "light"})
    first = await reset_with_key(client, "reset-1")
    assert first.status == 200
    answer = check_settings(await first.json())
    assert answer == DEFAULTS
    await patch(client, {"max_tokens": 99})  # changed since: a retry must not undo this
    retry = await reset_with_key(client, "reset-1")
    assert retry.status == 200
    assert await retry.json() == answer
    assert etag_version(retry) == etag_version(first) == 2
    assert (await get_settings(client))["max_tokens"] == 99
    assert settings_log_types(data_dir) == [
        "settings_changed",
        "settings_reset",
        "settings_changed",
    ]
    await client.close()

    client = await make_client(data_dir)  # the key is kept in the log: it outlives a restart
    again = await reset_with_key(client, "reset-1")
    assert await again.json() == answer
    assert (await get_settings(client))["max_tokens"] == 99
    assert len(settings_log_types(data_dir)) == 3
    other = await reset_with_key(client, "reset-2")  # a new key is a new reset
    assert (await other.json())["max_tokens"] == DEFAULTS["max_tokens"]
    assert settings_log_types(data_dir)[-1] == "settings_reset"


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_a_reset_with_a_malformed_idempotency_key_is_422(client, data_dir, key) -> None:
    await patch(client, {"theme": "light"})
    before = settings_log(data_dir)
    response = await client.post(
        "/api/settings/reset", headers={"Idempotency-Key": key.encode().decode("latin-1")}
    )
    await expect_error(client, response, 422, field="Idempotency-Key")
    assert settings_log(data_dir) == before
