"""The `power_cut_disk` fixture: a forgetful FUSE disk on a fresh dir, unmounted at teardown.

It fails, rather than skips, where FUSE is missing: CI must really run these tests, and
`make test` installs fuse3 first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.powercut.disk import DiskFailed, PowerCutDisk, fuse_missing


@pytest.fixture
def power_cut_disk(tmp_path: Path) -> Iterator[PowerCutDisk]:
    missing = fuse_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    disk = PowerCutDisk(tmp_path / "disk")
    try:
        disk.start()
    except DiskFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield disk
    finally:
        disk.stop()
