"""The store's writes: every command the edge can send, forwarded to the collaborator that
decides it (commands.py, settings_commands.py, accounts.py). A base of Store, so that the
facade reads as two parts: its lifecycle and reads (store.py), and these."""

from __future__ import annotations

from typing import Any

from orion_events.domain.events import AT_CURRENT_LEAF, SessionImported
from orion_events.domain.precondition import Expected
from orion_events.domain.views import SessionView, SettingsView
from orion_events.store.accounts import Accounts
from orion_events.store.commands import Commands
from orion_events.store.settings_commands import SettingsCommands


class StoreWrites:
    _commands: Commands
    _settings_commands: SettingsCommands
    _accounts: Accounts

    @property
    def accounts(self) -> Accounts:
        """Users and their keys (SPEC §9)."""
        return self._accounts

    async def create_session(
        self,
        title: Any = None,
        metadata: Any = None,
        *,
        idempotency_key: str | None = None,
        owner: str | None = None,
    ) -> SessionView:
        """A new session of `owner` (None: without users)."""
        return await self._commands.create_session(title, metadata, idempotency_key, owner)

    async def fork_session(
        self,
        session_id: str,
        *,
        message_id: Any = None,
        version: Any = None,
        title: Any = None,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
    ) -> SessionView:
        """A new session of `owner` holding the branch up to `message_id`, or the whole tree
        at `version` (or now).

        `expected_version` (If-Match) is the source's: fork only what the client has seen.
        """
        return await self._commands.fork_session(
            session_id,
            message_id=message_id,
            version=version,
            title=title,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            owner=owner,
        )

    async def import_session(self, event: SessionImported) -> SessionView | None:
        """A conversation from another tool as a new session of `event.owner` (SPEC §10); None
        when that owner imported it before, and nothing was written."""
        return await self._commands.import_session(event)

    async def update_session(
        self,
        session_id: str,
        *,
        title: Any = None,
        metadata: Any = None,
        expected_version: Expected = None,
    ) -> SessionView:
        return await self._commands.update_session(
            session_id, title=title, metadata=metadata, expected_version=expected_version
        )

    async def delete_session(self, session_id: str, *, expected_version: Expected = None) -> None:
        await self._commands.delete_session(session_id, expected_version=expected_version)

    async def restore_session(
        self,
        session_id: str,
        *,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
    ) -> SessionView:
        """Undo a delete."""
        return await self._commands.restore_session(
            session_id, expected_version=expected_version, idempotency_key=idempotency_key
        )

    async def add_message(
        self,
        session_id: str,
        *,
        role: Any,
        content: Any,
        agent: Any = None,
        model: Any = None,
        parent_id: Any = AT_CURRENT_LEAF,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
    ) -> SessionView:
        """Add a message replying to `parent_id` (by default the current leaf; None: a new first
        message); the returned view's current leaf is the one added."""
        return await self._commands.add_message(
            session_id,
            role=role,
            content=content,
            agent=agent,
            model=model,
            parent_id=parent_id,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    async def set_current(
        self,
        session_id: str,
        message_id: Any,
        *,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
    ) -> SessionView:
        """Make the branch through `message_id` the current one."""
        return await self._commands.set_current(
            session_id,
            message_id,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    async def edit_message(
        self,
        session_id: str,
        message_id: str,
        *,
        content: Any,
        expected_version: Expected = None,
    ) -> SessionView:
        """Change a message's content; the old text stays in the log."""
        return await self._commands.edit_message(
            session_id, message_id, content=content, expected_version=expected_version
        )

    async def delete_message(
        self,
        session_id: str,
        message_id: str,
        *,
        subtree: bool = False,
        expected_version: Expected = None,
    ) -> SessionView:
        return await self._commands.delete_message(
            session_id, message_id, subtree=subtree, expected_version=expected_version
        )

    async def clear_messages(
        self, session_id: str, *, expected_version: Expected = None
    ) -> SessionView:
        return await self._commands.clear_messages(session_id, expected_version=expected_version)

    async def change_settings(
        self, changes: Any, *, expected_version: Expected = None, user_id: str | None = None
    ) -> SettingsView:
        return await self._settings_commands.change_settings(
            changes, expected_version=expected_version, user_id=user_id
        )

    async def reset_settings(
        self,
        *,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
        user_id: str | None = None,
    ) -> SettingsView:
        return await self._settings_commands.reset_settings(
            expected_version=expected_version, idempotency_key=idempotency_key, user_id=user_id
        )
