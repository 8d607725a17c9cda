"""Progress on stderr, only when stderr is a terminal: a `rich` spinner, bar and elapsed time per tool call,
updated by the tool's MCP progress notifications (`notifications/progress`: elapsed seconds and a message).

Nothing is written when stderr is not a terminal (scripts, logs, pipes), and never anything to stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


class OnProgress(Protocol):
    """The SDK's progress callback (`mcp.shared.dispatcher.ProgressFnT`)."""

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None: ...


async def _ignore(progress: float, total: float | None, message: str | None) -> None:
    return None


class Display:
    """Where progress goes: a rich console on stderr, or nowhere (`console=None`)."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self._live: Progress | None = None

    @classmethod
    def for_stderr(cls) -> Display:
        """A display on stderr when it is a terminal, else one that shows nothing."""
        if not sys.stderr.isatty():
            return cls(None)
        from rich.console import Console

        return cls(Console(stderr=True))

    @contextmanager
    def task(self, label: str) -> Generator[OnProgress]:
        """Show `label` with a spinner and a bar while the block runs; yields the callback for the SDK.

        The bar is indeterminate until a notification gives a total; each notification's message replaces
        the label (the tools say what they wait for, for how long, and the task id).
        """
        if self.console is None:
            yield _ignore
            return
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),  # file names and messages as written
            BarColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as live:
            task_id = live.add_task(label, total=None)
            self._live = live

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                live.update(task_id, completed=progress, total=total, description=message or label)

            try:
                yield on_progress
            finally:
                self._live = None

    @contextmanager
    def paused(self) -> Generator[Console | None]:
        """Stop redrawing while the person answers a question on the terminal; yields the console."""
        live = self._live
        if live is None:
            yield self.console
            return
        live.stop()
        try:
            yield self.console
        finally:
            live.start()
