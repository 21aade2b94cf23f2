"""The web page (SPEC §11): the history browser at `/` and `/sessions/{id}`, the API's
interactive documentation at `/docs`, and the files they load, all from this package (no CDN,
no build step): the browser's own HTML, CSS and JavaScript modules in `service/web/`, Swagger
UI's bundle from the swagger-ui-py package.

The page holds no data: it asks the API for everything, with the key the person types (kept in
the tab's sessionStorage, never in a URL), so its routes need no key. Every answer carries a
Content-Security-Policy that allows scripts and styles from this origin alone, no inline script,
no request to any other host.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from pathlib import Path

import swagger_ui
from aiohttp import web

from orion_events.domain.streams import is_session_id
from service.middlewares import Handler

WEB = Path(__file__).resolve().parent / "web"
SWAGGER = Path(swagger_ui.__file__).resolve().parent / "static"
# What /docs/ may serve of Swagger UI's files: the bundle, its preset, its styles and icons.
SWAGGER_FILES = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "index.css",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Swagger UI draws its icons as data: SVGs
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}


@functools.cache
def _file(path: Path) -> tuple[bytes, str, str]:
    """A file's bytes, content type and ETag, read once: they change only with the package."""
    data = path.read_bytes()
    kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    kind = kind or "application/octet-stream"
    return data, kind, f'"{hashlib.blake2b(data, digest_size=12).hexdigest()}"'


def _send(request: web.Request, path: Path, cache: str) -> web.Response:
    data, kind, tag = _file(path)
    headers = {**HEADERS, "ETag": tag, "Cache-Control": cache}
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if kind.startswith("text/") or kind.endswith("json") else None
    return web.Response(body=data, content_type=kind, charset=charset, headers=headers)


async def browser(request: web.Request) -> web.Response:
    """The history browser; on `/sessions/{id}` it opens that session (the page reads its URL).
    An id that is no session id at all is 404, as on every route with an id."""
    session_id = request.match_info.get("session_id")
    if session_id is not None and not is_session_id(session_id.lower()):
        raise web.HTTPNotFound()
    return _send(request, WEB / "index.html", "no-cache")


async def docs(request: web.Request) -> web.Response:
    return _send(request, WEB / "docs.html", "no-cache")


async def asset(request: web.Request) -> web.Response:
    """One of the page's own files (`/static/<name>`); nothing outside `service/web/`."""
    name = request.match_info["name"]
    if name not in _assets():
        raise web.HTTPNotFound()
    return _send(request, WEB / name, "no-cache")


async def docs_asset(request: web.Request) -> web.Response:
    """One of Swagger UI's files (`/docs/<name>`)."""
    name = request.match_info["name"]
    if name not in SWAGGER_FILES:
        raise web.HTTPNotFound()
    return _send(request, SWAGGER / name, "public, max-age=86400")


@functools.cache
def _assets() -> frozenset[str]:
    return frozenset(p.name for p in WEB.iterdir() if p.is_file() and not p.name.startswith("."))


PAGE_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", browser),
    ("GET", "/sessions/{session_id}", browser),
    ("GET", "/docs", docs),
    ("GET", "/docs/{name}", docs_asset),
    ("GET", "/static/{name}", asset),
]
