"""Small helpers the power-cut disk's own tests share."""

from __future__ import annotations

import os
from pathlib import Path


def write(path: Path, data: bytes, *, sync: bool) -> None:
    """Create or truncate `path` and write `data`, fsync'ing the file (not its dir) if `sync`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path) -> None:
    """fsync a directory, which makes its entries durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def names(path: Path) -> list[str]:
    return sorted(os.listdir(path))
