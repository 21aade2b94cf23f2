"""The ceiling for the HTTP benchmarks: a bare aiohttp app with the real service's route shapes.

`python -m bench.bare_app --port P` serves

- `GET /api/sessions/{session_id}`: a canned session of `--messages` messages (the same shape and
  about the same size as the real service's answer for a bench.datagen session);
- `GET /api/sessions`: a canned array of `--summaries` session summaries;
- `POST /api/sessions/{session_id}/messages`: reads the body, parses it with orjson and answers
  201 with a message built from it, writing nothing anywhere.

No middlewares, no validation, no store, access log off: what aiohttp and orjson alone cost, so
the real service's figure divided by this one is the share of the framework's ceiling it reaches.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"
AT = "2025-11-10T12:00:00.000000Z"
MODEL = "qwen2.5:1.5b"
CONTENT_BYTES = 300  # as long as bench.datagen's messages


def _text(size: int) -> str:
    return ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]


def canned_summary(messages: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "title": _text(50),
        "created_at": AT,
        "updated_at": AT,
        "version": messages + 1,
        "message_count": messages,
        "metadata": {},
    }


def canned_session(messages: int, content_bytes: int = CONTENT_BYTES) -> dict[str, Any]:
    session = canned_summary(messages)
    session["messages"] = [
        {
            "id": str(uuid.uuid4()),
            "role": ("user", "assistant")[i % 2],
            "content": _text(content_bytes),
            "timestamp": AT,
            "agent": None,
            "model": MODEL,
        }
        for i in range(messages)
    ]
    return session


def create_app(
    messages: int = 20, summaries: int = 50, summary_messages: int = 20
) -> web.Application:
    session_body = orjson.dumps(canned_session(messages))
    list_body = orjson.dumps([canned_summary(summary_messages) for _ in range(summaries)])

    async def get_session(request: web.Request) -> web.Response:
        return web.Response(body=session_body, content_type=JSON)

    async def list_sessions(request: web.Request) -> web.Response:
        return web.Response(body=list_body, content_type=JSON)

    async def add_message(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        message = {
            "id": str(uuid.uuid4()),
            "role": body["role"],
            "content": body["content"],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "agent": body.get("agent"),
            "model": body.get("model"),
        }
        return web.Response(body=orjson.dumps(message), status=201, content_type=JSON)

    app = web.Application()
    session = "/api/sessions/{session_id}"
    app.router.add_routes(
        [
            web.get("/api/sessions", list_sessions, allow_head=False),
            web.get(session, get_session, allow_head=False),
            web.post(f"{session}/messages", add_message),
        ]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--messages", type=int, default=20, help="in the canned session")
    parser.add_argument("--summaries", type=int, default=50, help="in the canned list")
    parser.add_argument(
        "--summary-messages", type=int, default=20, help="message_count of each summary"
    )
    args = parser.parse_args()
    web.run_app(
        create_app(args.messages, args.summaries, args.summary_messages),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
