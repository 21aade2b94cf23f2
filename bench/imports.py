"""Import (issue 15): how fast `orion-events import` writes a ChatGPT export, and what memory it
takes as the file grows.

    python -m bench.imports [--quick]

Two generated ChatGPT-shaped exports (bench/chatgpt_export.py), a large and one a tenth of it
(200 MB and 20 MB; --quick: 50 and 5), each imported by the real console script into an empty
data dir, in turns (small, large, small, large) so drift on a shared machine falls on both.
Rows:

1. conversations/s, large / small ≥ 0.8: the rate does not fall as the file grows
2. the import's own peak resident set (bench/peak_memory.py), large / small ≤ 2: memory is
   bounded by the largest conversation and the store's few kilobytes a session, not by the file
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chatgpt_export import write_export
from bench.http import BenchError, orion_command, row
from bench.peak_memory import run_measured

MiB = 1024 * 1024
SIZES = (200, 20)
QUICK_SIZES = (50, 5)
ROUNDS = 2


def imported(export: Path, data_dir: Path) -> tuple[float, int, int]:
    """Seconds the import took, its own peak resident set in bytes, conversations imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORION_")}
    start = time.perf_counter()
    code, out, peak = run_measured(
        orion_command("import", str(export), "--data-dir", str(data_dir)),
        env,
        data_dir.with_suffix(".stderr"),
    )
    seconds = time.perf_counter() - start
    if code != 0:
        raise BenchError(f"orion-events import {export.name} exited {code}")
    return seconds, peak, int(json.loads(out)["imported"])


def run(quick: bool = False) -> list[dict[str, Any]]:
    large_mb, small_mb = QUICK_SIZES if quick else SIZES
    rates: dict[str, list[float]] = {"large": [], "small": []}
    peaks: dict[str, list[int]] = {"large": [], "small": []}
    with tempfile.TemporaryDirectory(prefix="orion-bench-import-") as tmp:
        work = Path(tmp)
        files = {"large": work / "large.json", "small": work / "small.json"}
        counts = {
            "large": write_export(files["large"], large_mb),
            "small": write_export(files["small"], small_mb),
        }
        for n in range(ROUNDS):
            for side in ("small", "large"):
                seconds, peak, count = imported(files[side], work / f"{side}-{n}")
                if count != counts[side]:
                    raise BenchError(f"{count} of {counts[side]} conversations imported")
                rates[side].append(count / seconds)
                peaks[side].append(peak)
    large, small = f"{large_mb} MB", f"{small_mb} MB"
    note = f"{counts['large']} / {counts['small']} conversations"
    return [
        {
            **row(
                f"import conversations/s, {large} / {small}",
                max(rates["large"]),
                max(rates["small"]),
                "conv/s",
                0.8,
                ">=",
                note,
            ),
            "part": "imports",
        },
        {
            **row(
                f"import peak memory, {large} / {small}",
                max(peaks["large"]) / MiB,
                max(peaks["small"]) / MiB,
                "MiB",
                2.0,
                "<=",
                note,
            ),
            "part": "imports",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for line in run(parser.parse_args().quick):
        print(
            f"{line['name']}: {line['real']:.1f} vs {line['bare']:.1f} {line['unit']} "
            f"(ratio {line['ratio']:.2f}, target {line['op']} {line['target']}; {line['note']})"
        )


if __name__ == "__main__":
    sys.exit(main())
