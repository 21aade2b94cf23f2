"""The domain's exceptions: every failure orion_events raises is one of these."""

from __future__ import annotations


class OrionError(Exception):
    """Root of every error this library raises."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SessionNotFound(OrionError, LookupError):
    code = "not_found"


class InvalidInput(OrionError, ValueError):
    code = "invalid_field"


class VersionConflict(OrionError):
    """The caller's expected version is not the stream's current one."""

    code = "version_conflict"


class PreconditionFailed(VersionConflict):
    """The client's If-Match names a version the session is no longer (or never was) at."""

    code = "precondition_failed"


class SessionReadOnly(OrionError):
    """The session's log is damaged in the middle: it is served up to the damage, never written."""

    code = "session_read_only"


class StorageUnavailable(OrionError, OSError):
    """A write or fsync failed: nothing was acknowledged and no partial line stayed behind."""

    code = "storage_unavailable"


class CorruptLog(OrionError):
    """A log line failed its integrity checks where a torn tail cannot explain it."""

    code = "corrupt_log"


class DataDirLocked(OrionError):
    """Another process holds the data directory."""

    code = "data_dir_locked"


class SyncModeRefused(OrionError):
    """The opt-in syncfs mode on a file system where syncfs may make nothing durable."""

    code = "sync_mode_refused"
