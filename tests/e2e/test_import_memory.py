"""SPEC §10: an import's memory is bounded by its largest conversation, not by the file.

The real `orion-events import` imports a generated ChatGPT-shaped export of 200 MB (the same
shapes as a real one: bench/chatgpt_export.py), and one of 20 MB; the command's own peak
resident set (bench/peak_memory.py: wait4's, not polluted by this test process's size) is
compared with a fixed bound and with the small file's. What may grow is
the store's summary of each new session (its tree of ids, its place in the list: what a service
holding those sessions keeps anyway), a few kilobytes a conversation; what must not is anything
in proportion to the file's text, as parsing it whole (or keeping the conversations once written)
would: a 200 MB export parsed whole takes well over 600 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.chatgpt_export import write_export
from bench.peak_memory import run_measured
from tests.service.test_cli_offline import clean_env, console_script

MiB = 1024 * 1024
BIG_MB, SMALL_MB = 200, 20
BOUND = 160 * MiB  # for the 200 MB file: less than the file; parsed whole, it takes over 600 MB
PER_SESSION = 8 * 1024  # the store's summary of one more session, at most


def import_peak(export: Path, data_dir: Path) -> tuple[int, dict[str, object]]:
    """The import's peak resident set in bytes, and its report."""
    errors = data_dir.with_suffix(".stderr")
    command = [str(console_script()), "import", str(export), "--data-dir", str(data_dir)]
    code, out, peak = run_measured(command, clean_env(), errors)
    assert code == 0, errors.read_text()
    return peak, json.loads(out)


def test_peak_memory_of_an_import_stays_bounded_as_the_file_grows(tmp_path: Path) -> None:
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    small_count = write_export(small, SMALL_MB)
    big_count = write_export(big, BIG_MB)
    small_peak, small_report = import_peak(small, tmp_path / "small-var")
    big_peak, big_report = import_peak(big, tmp_path / "big-var")
    assert (small_report["imported"], big_report["imported"]) == (small_count, big_count)
    seen = (
        f"peak resident: {small_peak / MiB:.0f} MiB for {SMALL_MB} MB ({small_count} "
        f"conversations), {big_peak / MiB:.0f} MiB for {BIG_MB} MB ({big_count})"
    )
    print(f"\n{seen}")
    assert big_peak < BOUND, seen
    assert big_peak - small_peak < PER_SESSION * (big_count - small_count), seen
