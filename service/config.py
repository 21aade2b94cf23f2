"""How the service is configured: environment variables, overridden by command-line flags."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from attrs import evolve, frozen

from orion_events.storage.files.commit import MAX_OPEN_LOGS, SyncMode
from orion_events.storage.postgres.pool import is_database_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
DEFAULT_DATA_DIR = "var"
DEFAULT_MAX_BODY = 2 * 1024 * 1024
DEFAULT_IMPORT_MAX_MB = 64
SYNC_MODES: tuple[SyncMode, ...] = ("fdatasync", "syncfs")


class ConfigError(ValueError):
    pass


@frozen
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    api_token: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    sse_heartbeat: float = 15.0  # seconds between comments on an idle live stream
    sse_max_lag: int = 10_000  # events a live reader may fall behind before it is let go
    sse_write_timeout: float = 30.0  # seconds one write may wait on a reader that stopped reading
    cache_mb: int | None = None  # memory for messages; None keeps every session's in memory
    # How a commit makes logs durable: fdatasync each touched file (any POSIX file system), or
    # one syncfs per batch (opt-in; refused at start on a file system not known to honour it).
    sync: SyncMode = "fdatasync"
    max_open_logs: int = MAX_OPEN_LOGS  # log files kept open for appending (LRU)
    # A PostgreSQL URL (postgresql://user@host/db): the log lives there instead of data_dir.
    log_url: str | None = None
    import_max_mb: int = DEFAULT_IMPORT_MAX_MB  # the largest body POST /api/import takes

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        port = environ.get("ORION_PORT", str(DEFAULT_PORT))
        if not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
            raise ConfigError(f"ORION_PORT must be a port number, not {port!r}")
        origins = environ.get("ORION_CORS_ORIGINS", "")
        log_url = environ.get("ORION_LOG_URL") or None
        if log_url is not None and not is_database_url(log_url):
            raise ConfigError("ORION_LOG_URL must be a postgresql:// URL")
        cache = environ.get("ORION_CACHE_MB")
        if cache is not None and not (cache.isascii() and cache.isdigit() and 0 < len(cache) <= 7):
            raise ConfigError(f"ORION_CACHE_MB must be a number of megabytes, not {cache!r}")
        max_open = environ.get("ORION_MAX_OPEN_LOGS", str(MAX_OPEN_LOGS))
        if not (max_open.isascii() and max_open.isdigit() and 0 < len(max_open) <= 7):
            raise ConfigError(f"ORION_MAX_OPEN_LOGS must be a number of files, not {max_open!r}")
        if int(max_open) < 1:
            raise ConfigError("ORION_MAX_OPEN_LOGS must be at least 1")
        import_max = environ.get("ORION_IMPORT_MAX_MB", str(DEFAULT_IMPORT_MAX_MB))
        if not (import_max.isascii() and import_max.isdigit() and 0 < len(import_max) <= 6):
            raise ConfigError(
                f"ORION_IMPORT_MAX_MB must be a number of megabytes, not {import_max!r}"
            )
        if int(import_max) < 1:
            raise ConfigError("ORION_IMPORT_MAX_MB must be at least 1")
        sync = environ.get("ORION_SYNC", "fdatasync")
        if sync not in SYNC_MODES:
            raise ConfigError(f"ORION_SYNC must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
        return cls(
            host=environ.get("ORION_HOST", DEFAULT_HOST),
            port=int(port),
            data_dir=Path(environ.get("ORION_DATA_DIR", DEFAULT_DATA_DIR)),
            api_token=environ.get("ORION_API_TOKEN") or None,
            cors_origins=tuple(o.strip() for o in origins.replace(",", " ").split() if o.strip()),
            cache_mb=None if cache is None else int(cache),
            log_url=log_url,
            sync=sync,
            max_open_logs=int(max_open),
            import_max_mb=int(import_max),
        )

    def with_flags(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        data_dir: str | None = None,
        cache_mb: int | None = None,
        log_url: str | None = None,
        sync: SyncMode | None = None,
        max_open_logs: int | None = None,
    ) -> Config:
        """Flags given on the command line win over the environment."""
        config = self
        if host is not None:
            config = evolve(config, host=host)
        if port is not None:
            config = evolve(config, port=port)
        if data_dir is not None:
            config = evolve(config, data_dir=Path(data_dir))
        if cache_mb is not None:
            config = evolve(config, cache_mb=cache_mb)
        if log_url is not None:
            if not is_database_url(log_url):
                raise ConfigError("--log must be a postgresql:// URL")
            config = evolve(config, log_url=log_url)
        if sync is not None:
            config = evolve(config, sync=sync)
        if max_open_logs is not None:
            if max_open_logs < 1:
                raise ConfigError("--max-open-logs must be at least 1")
            config = evolve(config, max_open_logs=max_open_logs)
        return config
