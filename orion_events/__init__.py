"""Orion's event-sourced core: events, the append log, the projector and the store (no aiohttp)."""
