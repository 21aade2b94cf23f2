"""The service on PostgreSQL: ORION_LOG_URL and --log, and the real process on a database."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from service.config import Config, ConfigError
from tests.e2e.conftest import HOST, clean_env, command, free_port, run_cli


def test_the_log_url_comes_from_the_environment_and_the_flag_wins() -> None:
    url, other = "postgresql://orion@db/orion", "postgres://orion:pw@other/orion"
    assert Config.from_env({}).log_url is None
    assert Config.from_env({"ORION_LOG_URL": url}).log_url == url
    assert Config.from_env({"ORION_LOG_URL": url}).with_flags(log_url=other).log_url == other
    with pytest.raises(ConfigError, match="ORION_LOG_URL"):
        Config.from_env({"ORION_LOG_URL": "mysql://db"})
    with pytest.raises(ConfigError, match="--log"):
        Config.from_env({}).with_flags(log_url="var")


def call(port: int, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def serve(args: list[str], logs: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with (logs / f"{port}.err").open("wb") as err:
        proc = subprocess.Popen(
            command("script", "serve", "--host", HOST, "--port", str(port), *args),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail((logs / f"{port}.err").read_text(errors="replace"))
        try:
            if call(port, "GET", "/api/health")["status"] == "ok":
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("serve did not answer")


def test_serve_on_a_database_survives_kill_9(pg_url: str, tmp_path: Path) -> None:
    unused = tmp_path / "unused"
    args = ["--data-dir", str(unused)]
    proc, port = serve([*args, "--log", pg_url], tmp_path, clean_env())
    try:
        session = call(port, "POST", "/api/sessions", {"title": "on postgres"})
        for n in range(5):
            call(
                port,
                "POST",
                f"/api/sessions/{session['id']}/messages",
                {"role": "user", "content": f"{n}"},
            )
    finally:
        proc.kill()
        proc.wait(timeout=20)
    # Acknowledged means committed: all of it is there after kill -9, found through the env.
    proc, port = serve(args, tmp_path, {**clean_env(), "ORION_LOG_URL": pg_url})
    try:
        again = call(port, "GET", f"/api/sessions/{session['id']}")
        assert [m["content"] for m in again["messages"]] == ["0", "1", "2", "3", "4"]
        assert call(port, "GET", "/api/health")["events"] == 6
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    verified = run_cli("verify", "--log", pg_url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip().endswith("1 logs, 6 events: intact")
    assert not unused.exists()
