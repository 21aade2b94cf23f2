"""A command's own peak resident set, as wait4 reports it, without its parent's.

Linux keeps a process's peak resident set across exec: a command started straight from a large
process (a test runner that has run thousands of tests, `make bench` after its other parts)
reports at least that process's size at the fork, whatever the command itself used. So the
command is started from a small Python process of its own, which waits for it and writes down
its peak: the figure is then the command's (or that small process's ~10 MB, whichever is more).

Used by bench/imports.py and tests/e2e/test_import_memory.py.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# argv: [peak file, command…]; spawned (not forked from this large process), waited, measured.
_LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(
    command: Sequence[str], env: Mapping[str, str], stderr: Path
) -> tuple[int, bytes, int]:
    """Run `command` (its first item a path); its exit code, its stdout, and its peak resident
    set in bytes. Its stderr goes to the file `stderr`."""
    with tempfile.TemporaryDirectory(prefix="orion-peak-") as tmp:
        peak = Path(tmp) / "peak"
        with stderr.open("wb") as errors:
            done = subprocess.run(
                [sys.executable, "-c", _LAUNCHER, str(peak), *command],
                stdout=subprocess.PIPE,
                stderr=errors,
                env=dict(env),
                check=False,
            )
        measured = int(peak.read_text()) if peak.exists() else 0
    return done.returncode, done.stdout, measured


__all__ = ["run_measured"]
