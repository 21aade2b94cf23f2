"""Schemathesis hooks for tests/service/test_fuzz_api.py, loaded by the `st run` it starts
(SCHEMATHESIS_HOOKS=tests.service.fuzz_hooks).

`other_users_session_is_missing` is SPEC §9's isolation rule as a check: every request of the
fuzzing user (alice) that succeeded on a session is sent again, byte for byte, with the second
user's key (bob's, from ORION_FUZZ_PEER_KEY), and again by bob with a random id in place of the
session's: the two answers must be one 404, the same but for the id. Schemathesis' own
`object_level_authorization` compares only GETs, and passes a peer's 4xx of any kind; this one
replays every method (a write must be refused before it is made) and asks for the exact answer
of a session that does not exist.

Live streams are read for a short while: an open stream never ends, and the fuzzer reads a whole
answer before it checks it."""

from __future__ import annotations

import os
import uuid
from typing import Any

import requests
import schemathesis
from schemathesis import Case, CheckContext, HookContext, Response

PEER_KEY = "ORION_FUZZ_PEER_KEY"
REPLAYS = "ORION_FUZZ_REPLAYS"  # a file: each operation replayed, a line each time
STREAM_SECONDS = 0.3  # how long the fuzzer reads one live stream


@schemathesis.hook
def before_call(context: HookContext, case: Case[Any], kwargs: dict[str, Any]) -> None:
    if case.operation.path.endswith("/stream"):
        kwargs["timeout"] = STREAM_SECONDS


@schemathesis.check
def other_users_session_is_missing(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    session_id = (case.path_parameters or {}).get("session_id")
    if not 200 <= response.status_code < 300 or not isinstance(session_id, str) or not session_id:
        return None
    sent = response.request
    assert sent.url is not None
    missing_id = str(uuid.uuid4())
    theirs = _as_peer(sent, sent.url)
    elsewhere = sent.url.replace(f"/sessions/{session_id}", f"/sessions/{missing_id}", 1)
    assert elsewhere != sent.url, sent.url
    missing = _as_peer(sent, elsewhere)
    where = f"{case.method} {sent.path_url}"
    with open(os.environ[REPLAYS], "a", encoding="utf-8") as replays:
        replays.write(f"{case.operation.label}\n")
    if theirs[0] != 404:
        raise AssertionError(
            f"Another user's request on this user's session answered {theirs[0]} "
            f"({theirs[1]}), not 404, for {where}"
        )
    ours, expected = _without(theirs, session_id), _without(missing, missing_id)
    if ours != expected:
        raise AssertionError(
            f"Another user's request on this user's session is not answered as a missing "
            f"session's is, for {where}:\n  other user's session: {ours!r}\n"
            f"  missing session:      {expected!r}"
        )
    return None


def _as_peer(sent: requests.PreparedRequest, url: str) -> tuple[int, str, str]:
    """The status, content type and body of `sent` to `url` with the peer's key instead."""
    replay = sent.copy()
    replay.url = url
    replay.headers["Authorization"] = f"Bearer {os.environ[PEER_KEY]}"
    with requests.Session() as session:
        answer = session.send(replay, timeout=5, stream=True)
        try:
            if answer.status_code != 404:  # a stream let through never ends: read none of it
                return answer.status_code, answer.headers.get("Content-Type", ""), ""
            return answer.status_code, answer.headers.get("Content-Type", ""), answer.text
        finally:
            answer.close()


def _without(answer: tuple[int, str, str], session_id: str) -> tuple[int, str, str]:
    status, content_type, text = answer
    for spelling in {session_id, session_id.lower()}:
        text = text.replace(spelling, "<session>")
    return status, content_type, text
