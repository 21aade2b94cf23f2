"""The e2e harness itself: a port taken between free_port() and serve's bind is tried again."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e import conftest
from tests.e2e.conftest import HOST, Server

pytestmark = pytest.mark.e2e


def test_a_start_whose_port_was_taken_meanwhile_binds_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, conftest.free_port()])
        monkeypatch.setattr(conftest, "free_port", lambda: next(ports))
        (tmp_path / "logs").mkdir()
        server = Server(tmp_path / "var", tmp_path / "logs", "script")
        try:
            server.start()
            assert server.port != busy
            assert server.running()
        finally:
            server.reap()
