"""Start-up of a data directory: every log found, checked and loaded, and what it lost reported.

A snapshot's marks let a log be read only past them, once its prefix still hashes as the
snapshot saw it. A torn last line (never acknowledged) is kept in quarantine/ and cut; logs
never named (a crash while creating them) are set aside there; loss (loss.py) is reported.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from orion_events.domain.streams import TOP_LEVEL_STREAMS, is_session_id
from orion_events.indexes.feed import FeedIndex
from orion_events.storage.codec import GENESIS, Damage, Scan, scan
from orion_events.storage.files import loss
from orion_events.storage.files.commit import NEW_SUFFIX, StreamFile, new_digest
from orion_events.storage.files.datadir import log_path, unique_path
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.port import LoadedStream, Resume, StreamMark

log = logging.getLogger(__name__)

_HASHERS = min(4, os.cpu_count() or 1)  # threads checking a snapshot's marks


class DataDirLoader:
    """Loads a locked data dir into the log's `files` (state by stream) and `lost` (loss
    found where no log is left to read)."""

    def __init__(
        self,
        data_dir: Path,
        io: PosixIO,
        files: dict[str, StreamFile],
        lost: dict[str, Damage],
    ) -> None:
        self.data_dir = data_dir
        self.sessions_dir = data_dir / "sessions"
        self.quarantine_dir = data_dir / "quarantine"
        self._io = io
        self._files = files
        self._lost = lost

    def path_of(self, stream: str) -> Path:
        return log_path(self.data_dir, stream)

    def load(
        self, each: Callable[[LoadedStream], None] | None, resume: Resume | None
    ) -> tuple[list[LoadedStream], FeedIndex]:
        """Every stream loaded (handed to `each` when given, else returned), and the global
        feed of their events."""
        streams = self._find_logs(resume.marks if resume is not None else {})
        marks: Mapping[str, StreamMark] = {}
        digests: dict[str, Any] = {}
        if resume is not None and not resume.whole:
            problem, digests = self._check_marks(resume.marks, set(streams))
            if problem is None:
                marks = resume.marks
            else:
                log.warning("not using the snapshot: %s; replaying every log", problem)
        loaded: list[LoadedStream] = []
        logs = []
        seen = resume.marks if resume is not None else {}
        for stream, lost in self._lost.items():  # nothing to read: only the report
            path = self.data_dir / stream if stream == "sessions/" else self.path_of(stream)
            self._files[stream] = StreamFile(stream, path, damage=lost)
            gone = LoadedStream(stream, [], lost, None)
            if each is None:
                loaded.append(gone)
            else:
                each(gone)
        for stream in streams:
            stream_load, offsets = self._load_file(
                stream, marks.get(stream), digests.get(stream), seen.get(stream)
            )
            if each is None:
                loaded.append(stream_load)
            else:
                each(stream_load)
            # Arrays, not lists: a million Python ints held to the end of the load would leave
            # their memory behind, fragmented among the views', once freed.
            positions = array("q", [r.position for r in stream_load.records])
            first = stream_load.resumed_after + 1
            lines = (stream, first, positions, array("q", offsets), self._files[stream].length)
            logs.append(lines)
        if marks and resume is not None:
            # The snapshot's index holds every event up to its position; what the logs add
            # since (tails, new logs) comes after it.
            feed, clashes = FeedIndex.resumed(resume.feed, resume.position, logs)
        else:
            feed, clashes = FeedIndex.from_logs(logs)
        if clashes:
            log.warning(
                "%d events share a global position with another (first: %s seq %d at %d); "
                "they stay in their session logs but not in the global feed",
                len(clashes),
                clashes[0].stream,
                clashes[0].seq,
                clashes[0].position,
            )
        return loaded, feed

    def _find_logs(self, marks: Mapping[str, StreamMark]) -> list[str]:
        """Every log in the data dir; logs and directories that were lost go in `_lost`.

        Logs being created when a crash came (never named, never answered) are set aside.
        """
        streams = [s for s in TOP_LEVEL_STREAMS if self.path_of(s).exists()]
        top = {s: self.path_of(s).stat().st_size for s in streams}
        gone = loss.missing_sessions_dir(self.data_dir, top)
        if gone is not None:
            # Not made again: an empty sessions/ would hide the loss from the next start.
            self._lost["sessions/"] = gone
            log.error("%s: %s", self.sessions_dir, gone.message)
        else:
            self._io.make_dirs(self.sessions_dir)  # its name durable before any log in it
        unnamed = [self.data_dir / f"{s}.jsonl{NEW_SUFFIX}" for s in TOP_LEVEL_STREAMS]
        for path in sorted(self.sessions_dir.iterdir()) if gone is None else []:
            if path.suffix == ".jsonl" and is_session_id(path.stem):
                streams.append(path.stem)
            elif path.name.endswith(".jsonl" + NEW_SUFFIX):
                unnamed.append(path)
            else:
                log.warning("ignoring %s: not a session log", path)
        self._set_aside([p for p in unnamed if p.exists()])
        self._lost.update(loss.missing_logs(marks, set(streams)))
        for stream, damage in self._lost.items():
            if stream != "sessions/":
                log.error("%s: %s", self.path_of(stream), damage.message)
        return streams

    def _set_aside(self, paths: list[Path]) -> None:
        """Move logs that were never named (a crash while creating them) to quarantine/."""
        if not paths:
            return
        self._io.make_dirs(self.quarantine_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for path in paths:
            kept = unique_path(self.quarantine_dir / f"{path.name}.{stamp}")
            self._io.rename(path, kept)
            log.warning("%s was never named (a crash while creating it); kept in %s", path, kept)

    def _check_marks(
        self, marks: Mapping[str, StreamMark], streams: set[str]
    ) -> tuple[str | None, dict[str, Any]]:
        """Why the logs no longer extend what a snapshot saw (None when every one does), and
        the running digest of each marked log's prefix, to go on with.

        Hashing every log's prefix is most of a start from a snapshot; reads and BLAKE2b both
        let go of the GIL, so a few threads hash the logs side by side.
        """
        for stream in marks:
            if stream not in streams:
                return f"{stream} has no log any more", {}
        items = list(marks.items())
        step = max(1, len(items) // (4 * _HASHERS))
        chunks = [items[i : i + step] for i in range(0, len(items), step)]
        digests: dict[str, Any] = {}
        with ThreadPoolExecutor(_HASHERS, thread_name_prefix="orion-marks") as pool:
            for checked in pool.map(self._prefix_digests, chunks):
                if isinstance(checked, str):
                    return checked, {}
                digests.update(checked)
        return None, digests

    def _prefix_digests(self, marks: list[tuple[str, StreamMark]]) -> dict[str, Any] | str:
        """The digest of each log's prefix up to its mark, or why one does not match."""
        digests: dict[str, Any] = {}
        for stream, mark in marks:
            path = self.path_of(stream)
            try:
                with open(path, "rb") as f:
                    prefix = f.read(mark.length)
            except OSError as exc:
                return f"{path}: {exc}"
            digest = new_digest()
            digest.update(prefix)
            if len(prefix) < mark.length or digest.hexdigest() != mark.digest:
                return f"{path} changed before seq {mark.seq}"
            digests[stream] = digest
        return digests

    def _load_file(
        self, stream: str, mark: StreamMark | None, digest: Any, seen: StreamMark | None
    ) -> tuple[LoadedStream, list[int]]:
        """Read and check one log, or only what follows `mark` when a snapshot covers the rest.

        `seen` is where a snapshot saw the log end, used or not: a log shorter is loss.
        """
        path = self.path_of(stream)
        base, seq, last_hash, last_line = 0, 0, GENESIS, -1
        if mark is not None:
            base, seq, last_hash, last_line = mark.length, mark.seq, mark.last_hash, mark.last_line
        with open(path, "rb") as f:
            f.seek(base)
            data = f.read()
        result = scan(data, stream, first_seq=seq + 1, prev=last_hash, base=base)
        seq += len(result.records)
        file = StreamFile(stream, path, seq, result.last_hash, result.good_length)
        if digest is not None:
            file.digest = digest
        file.digest.update(memoryview(data)[: result.good_length - base])
        if result.records:
            last_line = result.offsets[-1]
        if seq:
            file.mark = StreamMark(
                seq, result.good_length, result.last_hash, last_line, file.digest.hexdigest()
            )
        cut_tail = None
        if result.damage is not None and result.damage.is_torn_tail:
            self._cut_tail(file, data[result.good_length - base :], result)
            cut_tail = result.damage
        elif result.damage is not None:
            file.damage = result.damage
        if file.damage is None:
            file.damage = self._loss_in(stream, result, seq, seen)
        if file.damage is not None:
            log.error("%s is damaged at %s: served read-only", path, file.damage.describe())
        self._files[stream] = file
        resumed = 0 if mark is None else mark.seq
        return LoadedStream(stream, result.records, file.damage, cut_tail, resumed), result.offsets

    @staticmethod
    def _loss_in(stream: str, result: Scan, seq: int, seen: StreamMark | None) -> Damage | None:
        """What a whole, valid log still shows of lost writes: its start, or its end."""
        if seq == len(result.records):  # read from its first line, not resumed past a mark
            first = result.records[0] if result.records else None
            at_start = loss.of_log(
                stream, result.good_length, first, session=stream not in TOP_LEVEL_STREAMS
            )
            if at_start is not None:
                return at_start
        return None if seen is None else loss.against_mark(result.good_length, seq, seen)

    def _cut_tail(self, file: StreamFile, tail: bytes, result: Scan) -> None:
        """Keep a torn or failing last line aside in quarantine/, then cut it from the log.

        It was never acknowledged: an append is answered only after its fsync, and a crash before
        the fsync finished is the only way a last line can be torn.
        """
        assert result.damage is not None
        self._io.make_dirs(self.quarantine_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = unique_path(
            self.quarantine_dir / f"{file.stream}.line{result.damage.line}.{stamp}.tail"
        )
        # Kept durably before the cut, so no crash in between loses the bytes from both places.
        self._io.write_file(kept, [tail])
        self._io.truncate_file(file.path, result.good_length)
        log.warning(
            "%s: cut %d bytes at %s; kept in %s",
            file.path,
            len(tail),
            result.damage.describe(),
            kept,
        )
