"""The connection layer under the app: aiohttp's own refusals in this API's JSON, and clients that
leave logged once.

aiohttp answers a request its HTTP parser cannot read (a request line or header over its limit,
bad chunked encoding, a malformed request line) before any handler or middleware runs, with a
text/plain 400 that quotes the offending bytes and an ERROR log with a traceback; and a client
that hangs up mid-request surfaced as an ERROR with a traceback too. Any client could fill the
log either way. aiohttp offers no setting for either, so the service runs on a RequestHandler of
its own, made by a Server and a runner of its own: `serve` for the CLI, `EdgeRunner` for tests.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from service.errors import BodyFramingError
from service.middlewares import HTTP_CODES, error_response

log = logging.getLogger(__name__)

# What each parser error says, in words of our own: aiohttp's messages quote the request's bytes.
_PARSER_ERRORS: list[tuple[type[HttpProcessingError], str]] = [
    (LineTooLong, "the request line or a header field is longer than the server accepts"),
    (BadHttpMethod, "the request line's method is not valid"),
    (BadStatusLine, "the request line is not valid HTTP/1.1"),
    (InvalidURLError, "the request target is not a valid path"),
    (InvalidHeader, "a header field is not valid"),
    (TransferEncodingError, "the body's chunked encoding is not valid"),
    (ContentLengthError, "the body does not match its Content-Length"),
]


def describe(exc: BaseException | None) -> str:
    """What is wrong with a request aiohttp's parser refused, never quoting any of it."""
    for kind, words in _PARSER_ERRORS:
        if isinstance(exc, kind):
            return words
    if isinstance(exc, HttpProcessingError):
        # llhttp's messages are "<a fixed reason>:\n\n  <the bytes>\n  ^", and aiohttp quotes
        # whatever it takes from the request: a first line with no quote is fixed words.
        reason = exc.message.partition(":\n")[0]
        if reason.isprintable() and not {"'", '"'} & set(reason) and 0 < len(reason) <= 80:
            return f"the request is not valid HTTP/1.1: {reason}"
    return "the request is not valid HTTP/1.1"


class EdgeRequestHandler(RequestHandler):
    """aiohttp's protocol handler, answering and logging as the rest of the service does."""

    # `_body`: the body of the last request read, the only one the parser can still be
    # reading; `_framing_lost`: its framing broke, so nothing more on this connection is read.
    __slots__ = ("_body", "_framing_lost")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body: StreamReader | None = None
        self._framing_lost = False

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request the parser refused (`message` quotes it, so it is unused), or
        to an error no handler answered (a bug: logged with its traceback)."""
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun: the connection can only be dropped")
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            response = error_response(status, "internal", "internal error; it has been logged")
        else:
            words = describe(exc)
            log.info("refused a malformed request from %s: %s", request.remote, words)
            response = error_response(status, HTTP_CODES.get(status, "bad_request"), words)
        response.force_close()
        return response

    def data_received(self, data: bytes) -> None:
        # aiohttp queues a parse error in a body that is still arriving (bad chunking after the
        # headers) as a next request, while the handler reading that body waits for the rest
        # for ever. Fail the body the handler reads instead, so it answers 400, and read no more
        # from a connection whose framing is lost.
        if self._framing_lost:
            return
        queued = len(self._messages)
        super().data_received(data)
        for request, body in list(self._messages)[queued:]:
            if isinstance(request, RawRequestMessage):
                self._body = body
            elif self._body is not None and not self._body.is_eof():
                words = describe(getattr(request, "exc", None))
                peer = self.transport.get_extra_info("peername") if self.transport else None
                log.info("refused a malformed body from %s: %s", _host(peer), words)
                self._body.set_exception(BodyFramingError(words))
                self._body = None
                self._framing_lost = True
                self.close()
                return

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        began = resp.prepared
        resp, reset = await super().finish_response(request, resp, start_time)
        if self._framing_lost:
            # Answered: close now, rather than linger reading the rest of a body that cannot
            # be read (aiohttp would log the failed body as an unhandled exception).
            self.force_close()
        # A reader leaving an answer already under way (an event stream) is how streams end;
        # one that left before its answer could begin is the client going away mid-request,
        # worth one line (never a traceback: aiohttp only says so at DEBUG).
        if reset and not began:
            log.info(
                "%s %.200r from %s: the client left before its answer",
                request.method,
                request.raw_path,
                request.remote,
            )
        return resp, reset


def _host(peer: Any) -> str | None:
    return str(peer[0]) if isinstance(peer, (list, tuple)) else None


class EdgeServer(web.Server):
    """aiohttp's Server, making EdgeRequestHandlers."""

    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """aiohttp's AppRunner, serving through an EdgeServer."""

    async def _make_server(self) -> web.Server:
        stock = await super()._make_server()  # starts the app, as the runner expects
        return EdgeServer(
            stock.request_handler,
            request_factory=stock.request_factory,
            handler_cancellation=stock.handler_cancellation,
            **stock._kwargs,
        )


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float,
    ready: Callable[[], None],
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then stop gracefully: stop accepting, let in-flight
    requests finish (up to `shutdown_timeout` s), end the streams, close the store.

    What `web.run_app` does, with an EdgeRunner (run_app takes no runner). As with run_app, a
    client that leaves does not cancel its handler: a write under way finishes.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:  # before start-up, so a signal during it stops the service cleanly
        loop.add_signal_handler(signum, stop.set)
    runner = EdgeRunner(
        app, access_log=None, handler_cancellation=False, shutdown_timeout=shutdown_timeout
    )
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            ready()
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
