"""The process's limit on open files, and how many of them the logs may keep."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

# Sockets, the lock, snapshot and read handles need the rest: logs may keep at most half.
_SHARE_FOR_LOGS = 2
_MIN_LOGS = 16


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a soft 1,024 is common and low for a
    server); the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # a sandbox may refuse: go on with the soft one
            log.warning("could not raise the open files limit from %d to %d: %s", soft, hard, exc)
    return soft


def open_logs_within(configured: int, soft_limit: int) -> int:
    """How many log files may stay open: the setting, unless the process's limit is too low
    to hold them beside everything else."""
    if soft_limit == resource.RLIM_INFINITY:
        return configured
    fit = max(_MIN_LOGS, soft_limit // _SHARE_FOR_LOGS)
    if fit < configured:
        log.warning(
            "keeping at most %d log files open, not %d: the open files limit is %d",
            fit,
            configured,
            soft_limit,
        )
    return min(configured, fit)
