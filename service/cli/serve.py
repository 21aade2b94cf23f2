"""`orion-events serve`: the HTTP API until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import sys

from service import edge
from service.app import create_app
from service.config import Config
from service.limits import raise_open_files_limit

log = logging.getLogger("orion")
# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms). The
# event loop takes the GIL back after every socket call, and while a read thread decodes or
# folds a long history (storage/readpool.py) each of those waits up to this long. Under 30
# readers of a 20,000-message session's past, GET /api/health's median was 3.5 ms at 5 ms,
# 0.7 ms at 0.5 ms and 0.3 ms at 0.1 ms (make bench, reads part; 0.05 ms did no better). It only
# matters while two threads want the GIL at once; a service that reads no long history never
# waits on it.
SWITCH_INTERVAL = 0.0001


def serve(config: Config) -> int:
    raise_open_files_limit()
    sys.setswitchinterval(SWITCH_INTERVAL)
    asyncio.run(
        edge.serve(
            create_app(config),
            config.host,
            config.port,
            shutdown_timeout=30.0,
            ready=lambda: log.info("serving on http://%s:%d", config.host, config.port),
        )
    )
    return 0
