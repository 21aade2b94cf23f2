"""The settings commands: input checked, then the events each decides on the settings as they
stand when their turn to write comes (writer.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orion_events.domain import rules as validation
from orion_events.domain.errors import SessionReadOnly
from orion_events.domain.events import Event, SettingsChanged, SettingsReset
from orion_events.domain.precondition import Expected, check_version
from orion_events.domain.projector import replay_settings
from orion_events.domain.streams import SETTINGS_STREAM
from orion_events.domain.views import SettingsView
from orion_events.storage.port import EventLog
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View
from orion_events.store.idempotency import IdempotencyKey
from orion_events.store.writer import Decide, Replay, StreamWriter


class SettingsCommands:
    def __init__(self, event_log: EventLog, current: CurrentViews, writer: StreamWriter) -> None:
        self._log = event_log
        self._current = current
        self._writer = writer

    async def change_settings(self, changes: Any, *, expected_version: Expected) -> SettingsView:
        checked = validation.settings_changes(changes)

        def decide(view: View) -> Sequence[Event]:
            settings = self._settings(view, expected_version)
            actual = {k: v for k, v in checked.items() if getattr(settings, k) != v}
            return [SettingsChanged(actual)] if actual else []

        return await self._write_settings(decide)

    async def reset_settings(
        self, *, expected_version: Expected, idempotency_key: str | None
    ) -> SettingsView:
        key = IdempotencyKey.of(SETTINGS_STREAM, idempotency_key, "reset")

        def decide(view: View) -> Sequence[Event]:
            self._settings(view, expected_version)
            return [SettingsReset()]

        return await self._write_settings(decide, key)

    def _settings(self, view: View, expected_version: Expected) -> SettingsView:
        """If-Match on settings: the settings log's version (0 before its first event)."""
        # The log refuses appends after damage it found itself; damage only the projector saw
        # (see startup._fold_settings) is known here alone.
        if SETTINGS_STREAM in self._current.read_only:
            raise SessionReadOnly(
                f"the settings are read-only: their log is damaged "
                f"({self._current.read_only[SETTINGS_STREAM]})"
            )
        assert isinstance(view, SettingsView)
        check_version(expected_version, view.version, "the settings")
        return view

    async def _write_settings(
        self, decide: Decide, key: IdempotencyKey | None = None
    ) -> SettingsView:
        result = await self._writer.submit(SETTINGS_STREAM, decide, key)
        if isinstance(result, Replay):  # a retry: the settings as the first request left them
            return replay_settings(await self._log.read(SETTINGS_STREAM, 0, result.seq))
        assert isinstance(result, SettingsView)
        return result
