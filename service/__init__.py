"""The aiohttp edge of Orion: routes, handlers, middlewares, config and the CLI."""
