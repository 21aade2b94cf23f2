"""Errors the HTTP edge raises about a request itself, before the domain sees it."""

from __future__ import annotations

from aiohttp import web


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def unknown_field(name: str) -> ApiError:
    return ApiError(422, "invalid_field", f"unknown field {name!r}", field=name)


class BodyFramingError(web.RequestPayloadError):
    """The body's framing (its chunked encoding) broke while it arrived: the connection layer
    (service.edge) fails the body with this, in words that quote none of the request."""
