"""Schemathesis over the whole OpenAPI document the service serves, on a service with users,
sent over real HTTP to the real app (its edge server, on a temp data dir) by `st run`.

It runs every phase (the document's examples, coverage of each schema's edges, fuzzing with
valid and invalid data, and stateful sequences it infers from the document) with every check
Schemathesis has (`--checks all`): no 5xx, documented status codes, content types, headers and
bodies, invalid data refused and valid data accepted, `ignored_auth` (each operation that
declares bearer auth is sent again without a key and with a wrong one, and must refuse both),
`use_after_free` and `ensure_resource_availability`, and `object_level_authorization` with alice
and bob as peers (an object alice reads must not reach bob); plus this suite's own
`other_users_session_is_missing` (fuzz_hooks.py): every request of alice's that succeeded on a
session, sent by bob, answers exactly as a session that does not exist.

alice, a user who is no admin, sends every request; the admin routes answer her their
documented 403. The run is bounded (examples per operation, deterministic data) and its reports
are read back, to fail if a phase or a check that must run did not run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from tests.service.test_users_api import with_users

MAX_EXAMPLES = 20
SEED = 20261205
# Each must have checked responses: one that silently stopped running would let this pass.
MUST_RUN = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "object_level_authorization",
    "other_users_session_is_missing",
)
# alice sends everything; bob is her peer. A valid request may still meet the state it is sent
# in: a stale If-Match is 412, an unknown cursor or message id or a reused Idempotency-Key 422.
# A stale If-Match is answered before the body is looked at (RFC 9110 §13.2.1 has preconditions
# evaluated before the content is), so an invalid request may get its 412 too.
CONFIG = """
[auth.wfc]
path = "{auth}"
user = "alice"
peers = ["alice", "bob"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = [
    "400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429", "5xx"
]
"""
CHECK_RESULT = re.compile(r'\{"name":"([a-z_]+)","status":"(?:success|failure)"')
MIN_REPLAYED = 12  # operations on a session's path whose successes bob's key was sent again
ROOT = Path(__file__).resolve().parents[2]


async def test_schemathesis_finds_nothing(make_client: Any, tmp_path: Path) -> None:
    client = await make_client(sse_heartbeat=0.05)
    team = await with_users(client)
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auth": [_user("alice", team.alice), _user("bob", team.bob)]}))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(auth=auth))
    report, events = tmp_path / "report.json", tmp_path / "events.ndjson"
    replays = tmp_path / "replays"
    url = f"http://127.0.0.1:{client.server.port}/api/openapi.json"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", url),
        *("--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED)),
        *("--generation-deterministic", "--workers", "1"),
        *("--request-timeout", "10", "--no-color", "--suppress-health-check", "all"),
        *("--report", "json,ndjson", "--report-json-path", str(report)),
        *("--report-ndjson-path", str(events)),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.service.fuzz_hooks",
        "ORION_FUZZ_PEER_KEY": team.bob,
        "ORION_FUZZ_REPLAYS": str(replays),
    }
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-20_000:]
    summary = json.loads(report.read_text())
    assert summary["operations"]["tested"] == summary["operations"]["total"], summary["operations"]
    assert {phase["status"] for phase in summary["phases"].values()} == {"success"}, summary
    ran = _checks_run(events)
    assert not [name for name in MUST_RUN if not ran.get(name)], (ran, text[-5_000:])
    replayed = set(replays.read_text().splitlines())
    assert len(replayed) >= MIN_REPLAYED, replayed  # bob was really sent alice's sessions
    health = await client.get("/api/health")  # and the service still serves
    assert health.status == 200


def _user(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}


def _checks_run(events: Path) -> dict[str, int]:
    """How many times each check was run, from the run's NDJSON report."""
    ran: dict[str, int] = {}
    with events.open() as lines:
        for line in lines:
            for name in CHECK_RESULT.findall(line):
                ran[name] = ran.get(name, 0) + 1
    return ran
