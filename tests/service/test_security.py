"""SPEC §7 over HTTP: the bearer token on every /api/* route but health, and CORS by allow-list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from service.config import Config
from tests.service.expect import JSON, check_error_shape, raw_request

TOKEN = "s3cret-tok3n"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
ALLOWED = "http://ui.example"

# Every /api/* route but health: method, path, body, success status.
ROUTES = [
    ("POST", "/api/sessions", {"title": "x"}, 201),
    ("GET", "/api/sessions", None, 200),
    ("GET", "/api/sessions/{id}", None, 200),
    ("PUT", "/api/sessions/{id}", {"title": "renamed"}, 200),
    ("POST", "/api/sessions/{id}/messages", {"role": "user", "content": "hi"}, 201),
    ("DELETE", "/api/sessions/{id}/messages", None, 200),
    ("DELETE", "/api/sessions/{id}", None, 204),
    ("GET", "/api/settings", None, 200),
    ("PATCH", "/api/settings", {"theme": "light"}, 200),
    ("POST", "/api/settings/reset", None, 200),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _, _ in ROUTES]

WRONG_AUTHORIZATION = [
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN.upper()}",
    "Bearer wrong",
    "Bearer",
    TOKEN,
    f"Token {TOKEN}",
    f"Basic {TOKEN}",
    f"Bearer  {TOKEN}x",
    "",
]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: a refused request must change none of them."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def access_control_headers(response: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-")}


def header_items(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


async def expect_401(client: Any, response: Any) -> None:
    assert response.status == 401
    assert response.content_type == JSON
    check_error_shape(await response.json())
    assert TOKEN not in await response.text()
    health = await client.get("/api/health")
    assert health.status == 200


async def seeded(client: Any) -> str:
    response = await client.post("/api/sessions", json={"title": "seed"}, headers=GOOD)
    assert response.status == 201
    return str((await response.json())["id"])


# -- bearer token -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status"), ROUTES, ids=ROUTE_IDS)
async def test_route_without_token_is_401_and_changes_nothing(
    make_client, data_dir, method, path, body, status
) -> None:
    client = await make_client(api_token=TOKEN)
    sid = await seeded(client)
    before = tree(data_dir)
    response = await client.request(method, path.format(id=sid), json=body)
    await expect_401(client, response)
    assert tree(data_dir) == before


@pytest.mark.parametrize("authorization", WRONG_AUTHORIZATION)
@pytest.mark.parametrize(("method", "path", "body", "status"), ROUTES, ids=ROUTE_IDS)
async def test_route_with_a_wrong_token_is_401_and_changes_nothing(
    make_client, data_dir, method, path, body, status, authorization
) -> None:
    client = await make_client(api_token=TOKEN)
    sid = await seeded(client)
    before = tree(data_dir)
    response = await client.request(
        method, path.format(id=sid), json=body, headers={"Authorization": authorization}
    )
    await expect_401(client, response)
    assert tree(data_dir) == before


# Header bytes that are not UTF-8 (aiohttp hands them on surrogate-escaped), sent raw because
# aiohttp's client would not send them.
NON_UTF8_AUTHORIZATION = {
    "latin-1": f"Bearer {TOKEN[:-1]}\xe9".encode("latin-1"),
    "token-then-ff": f"Bearer {TOKEN}".encode() + b"\xff",
    "ff-fe": b"Bearer \xff\xfe",
    "broken-sequence": b"Bearer \xc3\x28",
    "lone-continuation": b"\x80" * 64,
}


@pytest.mark.parametrize(
    "authorization", NON_UTF8_AUTHORIZATION.values(), ids=list(NON_UTF8_AUTHORIZATION)
)
@pytest.mark.parametrize(("method", "path", "body", "status"), ROUTES, ids=ROUTE_IDS)
async def test_authorization_that_is_not_utf8_is_401_and_changes_nothing(
    make_client, data_dir, method, path, body, status, authorization
) -> None:
    client = await make_client(api_token=TOKEN)
    sid = await seeded(client)
    before = tree(data_dir)
    headers: dict[str, str | bytes] = {"Authorization": authorization}
    payload = b""
    if body is not None:
        headers["Content-Type"] = JSON
        payload = orjson.dumps(body)
    response = await raw_request(client, method, path.format(id=sid), headers=headers, body=payload)
    assert response.status == 401, response.body
    assert response.headers["content-type"].startswith(JSON)
    assert check_error_shape(orjson.loads(response.body))["code"] == "unauthorized"
    assert TOKEN.encode() not in response.body
    assert (await client.get("/api/health")).status == 200
    assert tree(data_dir) == before


@pytest.mark.parametrize(("method", "path", "body", "status"), ROUTES, ids=ROUTE_IDS)
async def test_route_with_the_right_token_works(make_client, method, path, body, status) -> None:
    client = await make_client(api_token=TOKEN)
    sid = await seeded(client)
    response = await client.request(method, path.format(id=sid), json=body, headers=GOOD)
    assert response.status == status, await response.text()


async def test_the_token_guards_reads_of_real_data(make_client) -> None:
    client = await make_client(api_token=TOKEN)
    sid = await seeded(client)
    response = await client.get(f"/api/sessions/{sid}")
    await expect_401(client, response)
    assert "seed" not in await response.text()
    listed = await client.get("/api/sessions", headers=GOOD)
    assert [s["id"] for s in await listed.json()] == [sid]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Bearer {TOKEN}"])
async def test_health_needs_no_token(make_client, authorization) -> None:
    client = await make_client(api_token=TOKEN)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get("/api/health", headers=headers)
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_without_a_configured_token_no_authorization_is_needed(client) -> None:
    response = await client.post("/api/sessions", json={"title": "open"})
    assert response.status == 201
    response = await client.get("/api/sessions", headers={"Authorization": "Bearer anything"})
    assert response.status == 200
    assert [s["title"] for s in await response.json()] == ["open"]


async def test_token_and_origins_from_the_environment_take_effect(make_client) -> None:
    config = Config.from_env(
        {"ORION_API_TOKEN": TOKEN, "ORION_CORS_ORIGINS": f"{ALLOWED}, http://other.example"}
    )
    assert config.host == "127.0.0.1"
    client = await make_client(api_token=config.api_token, cors_origins=config.cors_origins)
    await expect_401(client, await client.get("/api/settings"))
    assert (await client.get("/api/settings", headers=GOOD)).status == 200
    for origin in (ALLOWED, "http://other.example"):
        response = await client.get("/api/health", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin


def test_binds_to_localhost_by_default() -> None:
    assert Config().host == "127.0.0.1"
    assert Config.from_env({}).host == "127.0.0.1"
    assert Config.from_env({}).api_token is None
    assert Config.from_env({}).cors_origins == ()


# -- CORS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status"), ROUTES, ids=ROUTE_IDS)
async def test_allowed_origin_gets_allow_origin_on_every_route(
    make_client, method, path, body, status
) -> None:
    client = await make_client(cors_origins=(ALLOWED, "http://second.example"))
    sid = await seeded(client)
    response = await client.request(
        method, path.format(id=sid), json=body, headers={"Origin": ALLOWED}
    )
    assert response.status == status
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "origin" in header_items(response.headers.get("Vary", ""))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions/{id}"),
        ("PUT", "/api/sessions/{id}"),
        ("DELETE", "/api/sessions/{id}"),
        ("POST", "/api/sessions/{id}/messages"),
        ("PATCH", "/api/settings"),
    ],
)
async def test_preflight_from_an_allowed_origin_is_204_with_allow_headers(
    make_client, data_dir, method, path
) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    sid = await seeded(client)
    before = tree(data_dir)
    response = await client.options(
        path.format(id=sid),
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, if-match",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert method.lower() in header_items(response.headers["Access-Control-Allow-Methods"])
    allowed_headers = header_items(response.headers["Access-Control-Allow-Headers"])
    assert {"content-type", "if-match", "authorization"} <= allowed_headers
    assert tree(data_dir) == before


async def test_preflight_needs_no_token_but_the_request_does(make_client) -> None:
    client = await make_client(api_token=TOKEN, cors_origins=(ALLOWED,))
    preflight = await client.options(
        "/api/sessions",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    refused = await client.post("/api/sessions", json={}, headers={"Origin": ALLOWED})
    await expect_401(client, refused)
    # The browser may read the refusal: it carries the allow-origin header too.
    assert refused.headers["Access-Control-Allow-Origin"] == ALLOWED
    accepted = await client.post("/api/sessions", json={}, headers={"Origin": ALLOWED, **GOOD})
    assert accepted.status == 201
    assert accepted.headers["Access-Control-Allow-Origin"] == ALLOWED


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://ui.example",
        "http://ui.example.evil.example",
        "http://ui.example:8080",
        "null",
        "*",
        f"{ALLOWED}, http://evil.example",
    ],
)
async def test_foreign_origin_gets_no_cors_headers(make_client, data_dir, origin) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.get("/api/sessions", headers={"Origin": origin})
    assert response.status == 200
    assert access_control_headers(response) == {}
    before = tree(data_dir)
    preflight = await client.options(
        "/api/sessions",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status != 204
    assert access_control_headers(preflight) == {}
    assert tree(data_dir) == before


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/sessions", {"Origin": ALLOWED}),
        ("GET", "/api/health", {"Origin": ALLOWED}),
        ("POST", "/api/sessions", {"Origin": ALLOWED}),
        (
            "OPTIONS",
            "/api/sessions",
            {"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
        ),
    ],
)
async def test_without_cors_origins_there_are_no_cors_headers(
    client, method, path, headers
) -> None:
    response = await client.request(method, path, headers=headers)
    assert response.status != 204
    assert access_control_headers(response) == {}
