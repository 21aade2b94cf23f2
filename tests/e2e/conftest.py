"""The real `orion-events serve` as a subprocess on 127.0.0.1, a free port and a temp data dir.

`serve_process` hands out a factory; every process it starts is killed (SIGKILL) and reaped at
teardown if the test left it running, so no server outlives its test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
PORT_ATTEMPTS = 5
Launcher = Literal["script", "module"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def console_script() -> Path:
    """`orion-events` as installed next to the interpreter that runs the tests."""
    return Path(sys.executable).parent / "orion-events"


def command(launcher: Launcher, *args: str) -> list[str]:
    if launcher == "module":
        return [sys.executable, "-m", "service", *args]
    script = console_script()
    if not script.exists():
        pytest.fail(f"no console script at {script}: is the project installed in this venv?")
    return [str(script), *args]


def clean_env() -> dict[str, str]:
    """The environment without any ORION_* setting that could change what is served."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORION_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, launcher: Launcher = "script") -> subprocess.CompletedProcess[str]:
    """Run a one-shot subcommand (e.g. verify) to completion."""
    return subprocess.run(
        command(launcher, *args),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


class Server:
    """One `serve` process; start() it again after a stop or kill to restart on the same dir."""

    def __init__(
        self,
        data_dir: Path,
        logs: Path,
        launcher: Launcher,
        extra: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.launcher = launcher
        self.extra = extra  # more serve flags, e.g. ("--log", "postgresql://…")
        self.prefix = prefix  # a command that runs serve, e.g. ("prlimit", "--nofile=256")
        self.start_timeout = START_TIMEOUT
        self._logs = logs
        self._starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.stderr_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def spawn(self) -> subprocess.Popen[bytes]:
        """Launch the process without waiting for it to serve."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._starts += 1
        self.port = free_port()
        stem = self._logs / f"serve-{self.port}-{self._starts}"
        self.stderr_path = stem.with_suffix(".err")
        args = ["serve", "--host", HOST, "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir), *self.extra]
        with stem.with_suffix(".out").open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [*self.prefix, *command(self.launcher, *args)],
                stdout=out,
                stderr=err,
                env=clean_env(),
            )
        return self.proc

    def start(self) -> Server:
        """Launch and wait until GET /api/health answers 200.

        free_port() lets the port go before serve binds it, so another process can take it in
        between: a start that fails to bind is tried again on a new port, a few times.
        """
        for _ in range(PORT_ATTEMPTS):
            if self._start_once():
                return self
        pytest.fail(f"serve could not bind a port in {PORT_ATTEMPTS} tries:\n{self.stderr()}")

    def _start_once(self) -> bool:
        """True once serving; False when the port was taken; fails the test otherwise."""
        proc = self.spawn()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                if "address already in use" in self.stderr().lower():
                    return False
                pytest.fail(f"serve exited with {proc.returncode} at start:\n{self.stderr()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        pytest.fail(
            f"serve did not answer /api/health within {self.start_timeout} s:\n{self.stderr()}"
        )

    async def astart(self) -> Server:
        """start() off the event loop, for async tests."""
        return await asyncio.to_thread(self.start)

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, signum: signal.Signals) -> None:
        assert self.proc is not None, "never started"
        assert self.running(), "not running"
        self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    async def exit_code(self) -> int:
        """Wait (up to STOP_TIMEOUT) for the process to exit without blocking the event loop."""
        assert self.proc is not None
        deadline = time.monotonic() + STOP_TIMEOUT
        while (code := self.proc.poll()) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not exit within {STOP_TIMEOUT} s:\n{self.stderr()}")
            await asyncio.sleep(0.02)
        return code

    async def exit_code_after(self, signum: signal.Signals) -> int:
        """Send `signum`, then wait for the exit without blocking the event loop."""
        self.send(signum)
        return await self.exit_code()

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs at all."""
        self.send(signal.SIGKILL)
        return self.wait()

    def stop(self) -> int:
        """SIGTERM, then the exit code of the graceful shutdown."""
        self.send(signal.SIGTERM)
        return self.wait()

    def reap(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


ServerFactory = Callable[..., Server]


@pytest.fixture
def e2e_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def serve_process(tmp_path: Path, e2e_data_dir: Path) -> Iterator[ServerFactory]:
    """make(data_dir=None, launcher="script") -> a Server, not yet started."""
    logs = tmp_path / "logs"
    logs.mkdir()
    made: list[Server] = []

    def make(
        data_dir: Path | None = None, launcher: Launcher = "script", extra: tuple[str, ...] = ()
    ) -> Server:
        server = Server(data_dir or e2e_data_dir, logs, launcher, extra)
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.reap()


@pytest.fixture
async def server(serve_process: ServerFactory) -> Server:
    """A started console-script server on the test's data dir."""
    return await serve_process().astart()
