"""What the store says about itself on /health: counts, the cache, and what is degraded."""

from __future__ import annotations

from typing import Any

from orion_events.storage.port import EventLog, ReportsFailures
from orion_events.store.current import CurrentViews


def health_of(event_log: EventLog, current: CurrentViews, search_ready: bool) -> dict[str, Any]:
    failed = event_log.failed() if isinstance(event_log, ReportsFailures) else {}
    budget = current.budget
    problems = {**current.read_only, **failed}
    return {
        "status": "degraded" if problems else "ok",
        "sessions": current.live_sessions(),
        "events": current.events,
        "last_position": event_log.last_position,
        "search": "ready" if search_ready else "building",
        "cache": {
            "budget_bytes": None if budget is None else budget.budget,
            "hot_sessions": None if budget is None else budget.hot_sessions,
            "hot_bytes": None if budget is None else budget.hot_bytes,
        },
        "read_only_sessions": sorted(problems),
        "problems": problems,
    }
