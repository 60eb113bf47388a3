"""What every command shares: settings loaded on first use, and running async work against the
database with clean setup and teardown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from config.settings import Settings
    from engine.db import Database

T = TypeVar("T")


@dataclass
class AppContext:
    config_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from config.settings import SettingsError, load_settings

            try:
                self._settings = load_settings(self.config_file, **self.overrides)
            except SettingsError as exc:
                raise click.UsageError(str(exc)) from None
        return self._settings

    def start(
        self, *, migrate: bool = True, quiet: bool = False, log_file: str | None = None
    ) -> Settings:
        """Configure logging and, unless turned off, bring the schema up to date.

        `quiet` raises the log level to WARNING for commands whose output is for people;
        `log_file` (relative to the data directory) keeps logs out of an interactive screen.
        """
        from dataclasses import replace

        from config.logging import configure_logging
        from config.wiring import ensure_data_dir

        settings = self.settings
        logged = settings
        if quiet and settings.log_level in ("DEBUG", "INFO"):
            logged = replace(settings, log_level="WARNING")
        if log_file:
            stream = (ensure_data_dir(settings) / log_file).open("a", encoding="utf-8")
            configure_logging(replace(settings, log_format="json"), stream=stream)
        else:
            configure_logging(logged)
        if migrate and settings.auto_migrate:
            from config.wiring import migrate as run_migrations

            run_migrations(settings)
        return settings

    def run_with_db(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run `work(db)` on a fresh event loop; the database is disposed afterwards."""
        from config.wiring import build_database

        async def runner() -> T:
            db = build_database(self.settings)
            try:
                return await work(db)
            finally:
                await db.dispose()

        return asyncio.run(runner())


pass_app = click.make_pass_decorator(AppContext)


def fail(message: str) -> click.ClickException:
    return click.ClickException(message)
