"""The OpenAPI document: well-formed 3.1, served as built, and exactly the app's routes.

The route tests compare the document with the real app's router in both directions, so a route
added without being described, or described without being served, fails here. The schema tests
check real answers (and the service's own verdicts on request bodies) against the document.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from service.openapi import openapi_document
from tests.service.expect import JSON_HEADERS

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
PUBLIC = {("GET", "/api/health")}  # SPEC §7: the one route that never needs the token
ERROR_STATUSES = {"400", "401", "403", "404", "405", "409", "412", "413", "415", "422", "503"}
SCHEMAS = {
    "Session",
    "SessionSummary",
    "Message",
    "Settings",
    "SettingsPatch",
    "Event",
    "Error",
    "SearchPage",
    "CreateSession",
    "UpdateSession",
    "NewMessage",
    "EditMessage",
    "Fork",
    "Health",
}
REQUEST_SCHEMAS = {
    "CreateSession",
    "UpdateSession",
    "NewMessage",
    "EditMessage",
    "Fork",
    "SettingsPatch",
}
PARAMETERS = {
    "SessionId",
    "MessageId",
    "IfMatch",
    "IdempotencyKey",
    "Limit",
    "After",
    "Cursor",
    "LastEventId",
}
# `{name}` or `{name:regex}` in an aiohttp path; the document writes `{name}`.
PATH_VARIABLE = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")
TOKEN = "openapi-test-token"


# -- helpers ----------------------------------------------------------------------------------


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation the document describes."""
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for method, path, _ in operations(document)}


def router_routes(app: web.Application) -> dict[tuple[str, str], web.AbstractRoute]:
    """(METHOD, path in the document's syntax) -> route, for every /api route but HEAD/OPTIONS."""
    found: dict[tuple[str, str], web.AbstractRoute] = {}
    for route in app.router.routes():
        if route.method in SKIPPED_METHODS or route.resource is None:
            continue
        path = PATH_VARIABLE.sub(r"{\1}", route.resource.canonical)
        if path == "/api" or path.startswith("/api/"):
            found[route.method, path] = route
    return found


def route_differences(
    document: dict[str, Any], app: web.Application
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(served but not described, described but not served)."""
    served, described = set(router_routes(app)), documented_routes(document)
    return served - described, described - served


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only refs inside the document"
    node: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref}: {token!r} is not inside an object"
        assert token in node, f"{ref}: no {token!r}"
        node = node[token]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def parameters_of(document: dict[str, Any], path: str, operation: dict[str, Any]) -> list[Any]:
    declared = [*document["paths"][path].get("parameters", []), *operation.get("parameters", [])]
    return [resolve(document, p["$ref"]) if "$ref" in p else p for p in declared]


class SchemaCheck:
    """Validates values against the document's component schemas (JSON Schema 2020-12)."""

    def __init__(self, document: dict[str, Any]) -> None:
        jsonschema = pytest.importorskip("jsonschema")
        referencing = pytest.importorskip("referencing")
        from referencing.jsonschema import DRAFT202012

        self._validator = jsonschema.Draft202012Validator
        resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = referencing.Registry().with_resource("urn:orion:openapi", resource)

    def errors(self, name: str, value: Any) -> list[str]:
        validator = self._validator(
            {"$ref": f"urn:orion:openapi#/components/schemas/{name}"},
            registry=self._registry,
            format_checker=self._validator.FORMAT_CHECKER,
        )
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]

    def check(self, name: str, value: Any) -> None:
        assert self.errors(name, value) == [], f"{name}: {value!r}"

    def check_array(self, name: str, value: Any) -> None:
        assert isinstance(value, list)
        for item in value:
            self.check(name, item)


@pytest.fixture
def document() -> dict[str, Any]:
    return openapi_document()


@pytest.fixture
def schemas(document: dict[str, Any]) -> SchemaCheck:
    return SchemaCheck(document)


def require_route(client: Any, method: str, path: str) -> None:
    if (method, path) not in router_routes(client.app):
        pytest.skip(f"{method} {path} is not served yet")


async def create_session(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


# -- the document's structure -------------------------------------------------------------------


def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["paths"]
    assert all(path.startswith("/api/") for path in document["paths"])
    assert orjson.loads(orjson.dumps(document)) == document, "plain JSON data only"


def test_document_is_built_once(document: dict[str, Any]) -> None:
    assert openapi_document() is document


def test_every_ref_resolves_inside_the_document(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert found
    for ref in found:
        resolve(document, ref)


def test_every_component_is_used(document: dict[str, Any]) -> None:
    used = set(refs(document))
    for kind in ("schemas", "parameters", "headers"):
        for name in document["components"][kind]:
            assert f"#/components/{kind}/{name}" in used, f"{kind}/{name} is never used"


def test_every_operation_has_responses_and_a_unique_operation_id(
    document: dict[str, Any],
) -> None:
    ids = []
    for method, path, operation in operations(document):
        assert operation.get("summary"), f"{method} {path}"
        assert operation.get("responses"), f"{method} {path}"
        assert any(status.startswith("2") for status in operation["responses"]), path
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), f"{method} {path}: {status}"
            if "$ref" not in response:
                assert response.get("description"), f"{method} {path} {status}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation["operationId"]), f"{method} {path}"
        ids.append(operation["operationId"])
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    assert duplicates == []


def test_path_parameters_match_the_templates(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        parameters = parameters_of(document, path, operation)
        in_path = {p["name"] for p in parameters if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path)), f"{method} {path}"
        assert all(p["required"] for p in parameters if p["in"] == "path")
        names = [(p["name"], p["in"]) for p in parameters]
        assert len(names) == len(set(names)), f"{method} {path}: a parameter twice"


def test_components(document: dict[str, Any]) -> None:
    components = document["components"]
    assert set(components["schemas"]) >= SCHEMAS
    assert set(components["parameters"]) >= PARAMETERS
    session_id = components["parameters"]["SessionId"]
    assert session_id["in"] == "path"
    assert session_id["schema"] == {"type": "string", "format": "uuid"}
    assert set(components["responses"]) == ERROR_STATUSES
    for status, response in components["responses"].items():
        assert response["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }, status
    for name in REQUEST_SCHEMAS:
        assert components["schemas"][name]["additionalProperties"] is False, name


def test_error_answers_use_the_shared_responses(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response == {"$ref": f"#/components/responses/{status}"}, (
                    f"{method} {path} {status}"
                )
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), path
        if "{session_id}" in path:
            assert "404" in operation["responses"], f"{method} {path}"


def test_bearer_auth_on_every_route_but_health(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == scheme | {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    for method, path, operation in operations(document):
        if (method, path) in PUBLIC:
            assert operation["security"] == [], f"{method} {path}"
            assert "401" not in operation["responses"]
        else:
            assert "security" not in operation, f"{method} {path} inherits bearerAuth"
            assert "401" in operation["responses"], f"{method} {path}"


def test_openapi_spec_validator_accepts_the_document(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.OpenAPIV31SpecValidator(document).validate()


def test_openapi_spec_validator_would_catch_a_broken_document(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    broken = copy.deepcopy(document)
    broken["paths"]["/api/sessions/{session_id}"]["parameters"] = [
        {"name": "session_id", "in": "body", "schema": {"type": "string"}}
    ]
    assert list(validator.OpenAPIV31SpecValidator(broken).iter_errors())


# -- the document and the router ----------------------------------------------------------------


async def test_every_served_route_is_documented(client: Any, document: dict[str, Any]) -> None:
    undocumented, _ = route_differences(document, client.app)
    assert undocumented == set(), "routes the app serves that the document does not describe"


async def test_every_documented_route_is_served(client: Any, document: dict[str, Any]) -> None:
    _, unserved = route_differences(document, client.app)
    assert unserved == set(), "routes the document describes that the app does not serve"


async def test_operation_ids_name_the_handlers(client: Any, document: dict[str, Any]) -> None:
    wrong = {}
    for method, path, operation in operations(document):
        route = router_routes(client.app).get((method, path))
        if route is None:
            continue  # reported by test_every_documented_route_is_served
        name = getattr(route.handler, "__name__", repr(route.handler))
        if operation["operationId"] != name:
            wrong[f"{method} {path}"] = (operation["operationId"], name)
    assert wrong == {}, "(operationId, handler)"


def test_the_route_comparison_sees_a_missing_route_on_either_side(
    document: dict[str, Any],
) -> None:
    async def handler(request: web.Request) -> web.Response:
        raise AssertionError

    app = web.Application()
    for method, path in documented_routes(document):
        if path != "/api/settings/reset":
            app.router.add_route(method, path, handler)
    app.router.add_get("/api/sessions/{session_id:[0-9a-f-]{36}}/secret", handler)
    app.router.add_get("/not-api", handler)  # outside /api: not the document's business
    undocumented, unserved = route_differences(document, app)
    assert undocumented == {("GET", "/api/sessions/{session_id}/secret")}
    assert unserved == {("POST", "/api/settings/reset")}


async def test_served_document_is_the_built_one(client: Any, document: dict[str, Any]) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    assert orjson.loads(await response.read()) == document


async def test_only_health_needs_no_token_the_document_does(
    make_client: Any, document: dict[str, Any]
) -> None:
    client = await make_client(api_token=TOKEN)
    for method, path in sorted(PUBLIC):
        response = await client.request(method, path)
        assert response.status == 200, f"{method} {path}: {await response.text()}"
    for path in ("/api/sessions", "/api/openapi.json"):
        response = await client.get(path)
        assert response.status == 401, path
    authorized = await client.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert authorized.status == 200


# -- the schemas and the service's real answers -------------------------------------------------


async def test_answers_match_the_schemas(client: Any, schemas: SchemaCheck) -> None:
    session = await create_session(client, title="Schemas", metadata={"k": "v"})
    schemas.check("Session", session)
    sid = session["id"]
    response = await client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "hello", "agent": "a", "model": "m"},
    )
    assert response.status == 201
    schemas.check("Message", await response.json())
    response = await client.post(
        f"/api/sessions/{sid}/messages", json={"role": "assistant", "content": "hi"}
    )
    schemas.check("Message", await response.json())
    response = await client.get(f"/api/sessions/{sid}")
    schemas.check("Session", await response.json())
    response = await client.put(f"/api/sessions/{sid}", json={"title": "Renamed"})
    schemas.check("Session", await response.json())
    response = await client.get("/api/sessions", params={"limit": "1"})
    schemas.check_array("SessionSummary", await response.json())
    response = await client.delete(f"/api/sessions/{sid}/messages")
    schemas.check("Session", await response.json())
    for response in (
        await client.get("/api/settings"),
        await client.patch("/api/settings", json={"theme": "light", "temperature": 1}),
        await client.post("/api/settings/reset"),
    ):
        assert response.status == 200
        schemas.check("Settings", await response.json())
    response = await client.get("/api/health")
    schemas.check("Health", await response.json())


async def test_errors_match_the_schema(client: Any, schemas: SchemaCheck) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for response in (
        await client.get(f"/api/sessions/{missing}"),
        await client.get("/api/sessions/not-an-id"),
        await client.post("/api/sessions", data=b"{", headers=JSON_HEADERS),
        await client.post("/api/sessions", json={"bogus": 1}),
        await client.post("/api/sessions", data=b"{}", headers={"Content-Type": "text/plain"}),
        await client.patch("/api/sessions"),
    ):
        assert response.status >= 400
        schemas.check("Error", await response.json())


REQUEST_CASES = [
    ("CreateSession", {}),
    ("CreateSession", {"title": "t" * 200, "metadata": {"k" * 64: "v" * 512}}),
    ("CreateSession", {"title": "t" * 201}),
    ("CreateSession", {"title": ""}),
    ("CreateSession", {"title": "   "}),
    ("CreateSession", {"title": 3}),
    ("CreateSession", {"bogus": 1}),
    ("CreateSession", {"metadata": {f"k{i}": "v" for i in range(16)}}),
    ("CreateSession", {"metadata": {f"k{i}": "v" for i in range(17)}}),
    ("CreateSession", {"metadata": {"k" * 65: "v"}}),
    ("CreateSession", {"metadata": {"": "v"}}),
    ("CreateSession", {"metadata": {"k": "v" * 513}}),
    ("CreateSession", {"metadata": {"k": 1}}),
    ("CreateSession", {"metadata": []}),
    ("NewMessage", {"role": "user", "content": ""}),
    ("NewMessage", {"role": "tool", "content": "x", "agent": None, "model": "m"}),
    ("NewMessage", {"role": "robot", "content": "x"}),
    ("NewMessage", {"role": "user"}),
    ("NewMessage", {"content": "x"}),
    ("NewMessage", {"role": "user", "content": 1}),
    ("NewMessage", {"role": "user", "content": "x", "agent": ""}),
    ("NewMessage", {"role": "user", "content": "x", "extra": 1}),
    ("SettingsPatch", {}),
    ("SettingsPatch", {"theme": "auto", "language": "pt-BR", "max_tokens": 1_000_000}),
    ("SettingsPatch", {"temperature": 0, "enable_sounds": False, "default_model": "m"}),
    ("SettingsPatch", {"theme": "blue"}),
    ("SettingsPatch", {"language": "english!"}),
    ("SettingsPatch", {"enable_sounds": "yes"}),
    ("SettingsPatch", {"default_model": ""}),
    ("SettingsPatch", {"temperature": 2.5}),
    ("SettingsPatch", {"temperature": True}),
    ("SettingsPatch", {"max_tokens": 0}),
    ("SettingsPatch", {"max_tokens": 1.5}),
    ("SettingsPatch", {"colour": "red"}),
    ("UpdateSession", {}),
    ("UpdateSession", {"title": "New", "metadata": {}}),
    ("UpdateSession", {"title": ""}),
    ("UpdateSession", {"metadata": {"k": 1}}),
    ("UpdateSession", {"bogus": 1}),
    ("EditMessage", {"content": "changed"}),
    ("EditMessage", {}),
    ("EditMessage", {"content": 1}),
    ("EditMessage", {"content": "x", "role": "user"}),
    ("Fork", {}),
    ("Fork", {"version": 1, "title": "Forked"}),
    ("Fork", {"title": ""}),
    ("Fork", {"version": "1"}),
    ("Fork", {"message_id": "00000000-0000-4000-8000-000000000000", "version": 1}),
    ("Fork", {"bogus": 1}),
]


@pytest.mark.parametrize(
    ("schema", "body"),
    REQUEST_CASES,
    ids=[f"{s}-{orjson.dumps(b).decode()[:50]}" for s, b in REQUEST_CASES],
)
async def test_request_schemas_agree_with_the_service(
    client: Any, schemas: SchemaCheck, schema: str, body: dict[str, Any]
) -> None:
    """The document accepts a body exactly when the service does."""
    sid = (await create_session(client))["id"]
    session = f"/api/sessions/{sid}"
    if schema == "CreateSession":
        response = await client.post("/api/sessions", json=body)
    elif schema == "UpdateSession":
        response = await client.put(session, json=body)
    elif schema == "NewMessage":
        response = await client.post(f"{session}/messages", json=body)
    elif schema == "EditMessage":
        require_route(client, "PATCH", "/api/sessions/{session_id}/messages/{message_id}")
        added = await client.post(f"{session}/messages", json={"role": "user", "content": "x"})
        message_id = (await added.json())["id"]
        response = await client.patch(f"{session}/messages/{message_id}", json=body)
    elif schema == "Fork":
        require_route(client, "POST", "/api/sessions/{session_id}/fork")
        response = await client.post(f"{session}/fork", json=body)
    else:
        response = await client.patch("/api/settings", json=body)
    assert response.status in {200, 201, 422}, await response.text()
    served = response.status != 422
    documented = schemas.errors(schema, body) == []
    assert documented == served, f"the document says {documented}, the service {response.status}"


# -- routes still being added: checked once they are served -------------------------------------


async def test_history_and_feed_match_the_schemas(client: Any, schemas: SchemaCheck) -> None:
    require_route(client, "GET", "/api/sessions/{session_id}/events")
    require_route(client, "GET", "/api/events")
    session = await create_session(client)
    await client.post(
        f"/api/sessions/{session['id']}/messages", json={"role": "user", "content": "one"}
    )
    await client.patch("/api/settings", json={"theme": "light"})
    response = await client.get(f"/api/sessions/{session['id']}/events")
    assert response.status == 200
    events = await response.json()
    assert [e["seq"] for e in events] == [1, 2]
    schemas.check_array("Event", events)
    response = await client.get("/api/events", params={"after": "0", "limit": "1"})
    assert response.status == 200
    schemas.check_array("Event", await response.json())
    assert 'rel="next"' in response.headers.get("Link", "")


async def test_fork_and_export_match_the_schemas(client: Any, schemas: SchemaCheck) -> None:
    require_route(client, "POST", "/api/sessions/{session_id}/fork")
    require_route(client, "GET", "/api/sessions/{session_id}/export")
    session = await create_session(client, title="Source")
    response = await client.post(f"/api/sessions/{session['id']}/fork", json={"title": "Fork"})
    assert response.status == 201, await response.text()
    fork = await response.json()
    schemas.check("Session", fork)
    assert fork["forked_from"] == {"session_id": session["id"], "version": session["version"]}
    assert "Location" in response.headers
    response = await client.get(f"/api/sessions/{session['id']}/export")
    assert response.status == 200
    assert response.content_type == "application/json"
    schemas.check("Export", await response.json())
    response = await client.get(
        f"/api/sessions/{session['id']}/export", params={"format": "markdown"}
    )
    assert response.status == 200
    assert response.content_type == "text/markdown"


async def test_search_matches_the_schema(client: Any, schemas: SchemaCheck) -> None:
    require_route(client, "GET", "/api/search")
    await create_session(client, title="Findable words")
    response = await client.get("/api/search", params={"q": "findable"})
    assert response.status == 200, await response.text()
    page = await response.json()
    schemas.check("SearchPage", page)
    assert page["total"] >= 1


async def read_sse(response: Any, count: int) -> list[dict[str, str]]:
    """The first `count` messages with data of an event stream, as {field: value}."""
    messages: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(5):
        while len(messages) < count:
            line = (await response.content.readline()).decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line:
                if "data" in fields:
                    messages.append(fields)
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
    return messages


async def test_streams_send_what_the_document_says(client: Any, schemas: SchemaCheck) -> None:
    require_route(client, "GET", "/api/sessions/{session_id}/events/stream")
    require_route(client, "GET", "/api/events/stream")
    session = await create_session(client)
    sid = session["id"]
    await client.post(f"/api/sessions/{sid}/messages", json={"role": "user", "content": "x"})
    for path, id_field in (
        (f"/api/sessions/{sid}/events/stream", "seq"),
        ("/api/events/stream", "position"),
    ):
        response = await client.get(path, headers={"Last-Event-ID": "0"})
        try:
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            for message in await read_sse(response, 2):
                event = orjson.loads(message["data"])
                schemas.check("Event", event)
                assert message["id"] == str(event[id_field])
                assert message["event"] == event["type"]
        finally:
            response.close()


async def test_a_stream_reset_is_what_the_document_says(
    client: Any, document: dict[str, Any], schemas: SchemaCheck
) -> None:
    session = await create_session(client)
    for path in (f"/api/sessions/{session['id']}/events/stream", "/api/events/stream"):
        operation = document["paths"][path.replace(session["id"], "{session_id}")]["get"]
        sse = operation["responses"]["200"]["content"]["text/event-stream"]
        assert {"$ref": "#/components/schemas/StreamReset"} in sse["schema"]["properties"]["data"][
            "contentSchema"
        ]["oneOf"]
        response = await client.get(path, headers={"Last-Event-ID": "1000"})
        try:
            assert response.status == 200
            (message,) = await read_sse(response, 1)
        finally:
            response.close()
        assert message["event"] == "reset"
        data = orjson.loads(message["data"])
        schemas.check("StreamReset", data)
        assert message["id"] == str(data["resume_after"])
        # One of the oneOf alone: a reset is neither an event nor a stream error.
        assert schemas.errors("StreamError", data)
        assert schemas.errors("Event", data)


# -- If-Match: documented exactly where the handler honours it ----------------------------------

IF_MATCH = {"$ref": "#/components/parameters/IfMatch"}
ETAG = {"$ref": "#/components/headers/ETag"}
# A body each write accepts, by operationId; writes without one send none.
WRITE_BODIES: dict[str, Any] = {
    "create_session": {},
    "update_session": {"title": "Renamed"},
    "fork_session": {},
    "add_message": {"role": "user", "content": "more"},
    "edit_message": {"content": "changed"},
    "patch_settings": {"theme": "light"},
    "import_conversations": [],  # an export with nothing in it
}


def write_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The writes to sessions and settings; the users' routes need users (test_users_api)."""
    return [
        (m, p)
        for m, p, _ in operations(document)
        if m in {"POST", "PUT", "PATCH", "DELETE"} and not p.startswith(("/api/users", "/api/keys"))
    ]


@pytest.mark.parametrize(
    ("method", "path"), write_operations(openapi_document()), ids=lambda v: str(v)
)
async def test_if_match_and_412_are_documented_where_they_are_honoured(
    client: Any, document: dict[str, Any], method: str, path: str
) -> None:
    """Each write is sent an If-Match no version matches: it is 412 exactly when the document
    lists If-Match (and then 412 among its responses). Sent again without it, it succeeds, with
    an ETag exactly when the document's success response lists one."""
    operation = document["paths"][path][method.lower()]
    session = await create_session(client, title="Conditional")
    added = await client.post(
        f"/api/sessions/{session['id']}/messages", json={"role": "user", "content": "x"}
    )
    message = await added.json()
    if operation["operationId"] == "restore_session":
        assert (await client.delete(f"/api/sessions/{session['id']}")).status == 204
    url = path.format(session_id=session["id"], message_id=message["id"])
    body = WRITE_BODIES.get(operation["operationId"])
    if operation["operationId"] == "set_current":
        body = {"message_id": message["id"]}

    response = await client.request(method, url, json=body, headers={"If-Match": '"999"'})
    documented = IF_MATCH in operation.get("parameters", [])
    assert (response.status == 412) == documented, f"{response.status}: {await response.text()}"
    assert ("412" in operation["responses"]) == documented

    response = await client.request(method, url, json=body)
    assert response.status < 300, await response.text()
    (success,) = [r for s, r in operation["responses"].items() if s == str(response.status)]
    assert (success.get("headers", {}).get("ETag") == ETAG) == ("ETag" in response.headers)
