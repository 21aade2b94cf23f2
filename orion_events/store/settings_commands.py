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
from orion_events.domain.views import SettingsBook, SettingsView
from orion_events.storage.port import EventLog
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View
from orion_events.store.idempotency import IdempotencyKey, settings_scope
from orion_events.store.writer import Decide, Replay, StreamWriter


class SettingsCommands:
    def __init__(self, event_log: EventLog, current: CurrentViews, writer: StreamWriter) -> None:
        self._log = event_log
        self._current = current
        self._writer = writer

    async def change_settings(
        self, changes: Any, *, expected_version: Expected, user_id: str | None = None
    ) -> SettingsView:
        """Change `user_id`'s settings (None: the service's without users, the first admin's)."""
        checked = validation.settings_changes(changes)

        def decide(view: View) -> Sequence[Event]:
            settings = self._settings(view, expected_version, user_id)
            actual = {k: v for k, v in checked.items() if getattr(settings, k) != v}
            return [SettingsChanged(actual, user_id)] if actual else []

        return await self._write_settings(decide, user_id)

    async def reset_settings(
        self, *, expected_version: Expected, idempotency_key: str | None, user_id: str | None = None
    ) -> SettingsView:
        key = IdempotencyKey.of(settings_scope(user_id), idempotency_key, "reset")

        def decide(view: View) -> Sequence[Event]:
            self._settings(view, expected_version, user_id)
            return [SettingsReset(user_id)]

        return await self._write_settings(decide, user_id, key)

    def _settings(
        self, view: View, expected_version: Expected, user_id: str | None
    ) -> SettingsView:
        """If-Match on settings: the version of the user's settings (the seq of their last
        event in the settings log; 0 before their first)."""
        # The log refuses appends after damage it found itself; damage only the projector saw
        # (see startup._fold_settings) is known here alone.
        if SETTINGS_STREAM in self._current.read_only:
            raise SessionReadOnly(
                f"the settings are read-only: their log is damaged "
                f"({self._current.read_only[SETTINGS_STREAM]})"
            )
        assert isinstance(view, SettingsBook)
        settings = view.of(user_id)
        check_version(expected_version, settings.version, "the settings")
        return settings

    async def _write_settings(
        self, decide: Decide, user_id: str | None, key: IdempotencyKey | None = None
    ) -> SettingsView:
        result = await self._writer.submit(SETTINGS_STREAM, decide, key)
        if isinstance(result, Replay):  # a retry: the settings as the first request left them
            records = await self._log.read(SETTINGS_STREAM, 0, result.seq)
            return replay_settings(records).of(user_id)
        assert isinstance(result, SettingsBook)
        return result.of(user_id)
