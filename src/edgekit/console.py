"""Terminal output shared by every stage: rich progress bars and tables on stderr.

A leaf module (it imports only rich), so any stage may use it without pulling in another.
Progress is shown on a terminal and stays silent otherwise (tests, pipes, CI logs) unless
``EDGEKIT_PROGRESS=1`` forces it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


def _enabled(show: bool | None) -> bool:
    if show is not None:
        return show
    forced = os.environ.get("EDGEKIT_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false")
    return sys.stderr.isatty()


def console():
    from rich.console import Console

    return Console(stderr=True)


class Task:
    """A progress task handle; a no-op when progress is hidden."""

    def __init__(self, progress=None, task_id=None):
        self._progress = progress
        self._id = task_id

    def advance(self, n: int = 1, description: str | None = None) -> None:
        if self._progress is not None:
            kwargs = {"description": description} if description else {}
            self._progress.update(self._id, advance=n, **kwargs)

    def total(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._id, total=total)


@contextlib.contextmanager
def progress(description: str, total: int | None = None, *, show: bool | None = None) -> Iterator[Task]:
    """A rich progress bar for one long step: ``with progress("fit", 10) as bar: bar.advance()``."""
    if not _enabled(show):
        yield Task()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(), transient=False) as bar:
        yield Task(bar, bar.add_task(description, total=total))
