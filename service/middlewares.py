"""One table from every failure to its status and JSON error body; auth; CORS."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from orion_events.domain import errors
from service.errors import ApiError, BodyFramingError
from service.payloads import respond

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DOMAIN_STATUS: dict[type[errors.OrionError], int] = {
    errors.SessionNotFound: 404,
    errors.InvalidInput: 422,
    errors.PreconditionFailed: 412,
    errors.VersionConflict: 409,
    errors.SessionReadOnly: 409,
    errors.StorageUnavailable: 503,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_field",
    503: "unavailable",
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return respond({"error": error}, status=status, headers=headers)


def _status_of(exc: errors.OrionError) -> int:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 500


def answer_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The JSON error answer to what a handler raised (an HTTPException below 400, a
    redirect, is raised on as aiohttp expects)."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field)
    if isinstance(exc, errors.OrionError):
        status = _status_of(exc)
        if status == 500:
            log.error("unmapped domain error", exc_info=exc)
        return error_response(status, exc.code, exc.message, exc.field)
    if isinstance(exc, web.RequestPayloadError):
        # aiohttp raises this (no HTTPException) when the body does not decode as its
        # Content-Encoding says, and service.edge when its chunked encoding breaks: the
        # client's fault, so a 400, not the catch-all's 500. The parser cannot go on past it,
        # so the connection closes rather than wait for a next request it could not read.
        message = (
            str(exc)
            if isinstance(exc, BodyFramingError)
            else "the body does not decode as its Content-Encoding says"
        )
        response = error_response(400, "bad_request", message)
        response.force_close()
        return response
    if isinstance(exc, ConnectionError) and _client_left(request):
        # The client went away while its request was read: nobody is left to answer, and
        # service.edge logs the departure once (no traceback: this is no fault of ours).
        return error_response(400, "bad_request", "the client left during its request")
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        headers = {k: v for k, v in exc.headers.items() if k in {"Allow", "WWW-Authenticate"}}
        message = exc.reason if exc.status != 413 else "the request body is too large"
        return error_response(
            exc.status, HTTP_CODES.get(exc.status, "error"), message, headers=headers
        )
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal", "internal error; it has been logged")


def _client_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def guarded(handler: Handler) -> Handler:
    """`handler` answering whatever it raises as a JSON error (answer_error): the one way an
    error is answered. Every route is guarded, the catch-all `no_route` (404, 405) too, and the
    middlewares raise nothing (bearer auth answers its 401 itself), so no middleware answers
    errors.

    Per handler rather than as a middleware: any middleware at all makes aiohttp wrap every
    request in two more coroutines (the middleware and one that sets the current app) and look
    its chain up in a cache, on the hottest path there is: about 1 µs a request more than this
    wrapper, measured. The price is that each route must be guarded: setup_routes does it.
    """

    @functools.wraps(handler)
    async def guarded_handler(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            return answer_error(request, exc)

    return guarded_handler


async def no_route(request: web.Request) -> web.StreamResponse:
    """The last route, matching any path: 405 naming the methods when a route has this path,
    404 when none has (as aiohttp's router says, but in this API's JSON)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def cors(
    origins: tuple[str, ...],
) -> Middleware:
    allowed = frozenset(origins)

    @web.middleware
    async def add_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin not in allowed:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, If-Match, Idempotency-Key, Last-Event-ID"
            )
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
            response.headers["Access-Control-Expose-Headers"] = "ETag, Location, Link"
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        return response

    return add_cors
