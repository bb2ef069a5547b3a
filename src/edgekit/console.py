"""Terminal output shared by every stage: rich progress bars and tables on stderr.

A leaf module (it imports only rich), so any stage may use it without pulling in another.
On a terminal a long step shows a rich progress bar. Without one (CI, ``nohup``, a pipe)
a bar would be noise, so the step stays silent except for its notes: each finished
unit of work a stage reports with :meth:`Task.note` (e.g. one line per cross-validated
candidate: what, score, time) is printed as one plain line, so logs show progress.
``EDGEKIT_PROGRESS=1`` forces the bar, ``EDGEKIT_PROGRESS=lines`` the plain lines and
``EDGEKIT_PROGRESS=0`` silence; ``show=False`` silences a step whatever the environment.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Iterator

BAR, LINES, OFF = "bar", "lines", "off"


def _mode(show: bool | None) -> str:
    if show is not None:
        return BAR if show else OFF
    forced = os.environ.get("EDGEKIT_PROGRESS")
    if forced is not None:
        forced = forced.strip().lower()
        if forced == LINES:
            return LINES
        return OFF if forced in ("0", "", "false", "no", "off") else BAR
    return BAR if sys.stderr.isatty() else LINES


def console():
    from rich.console import Console

    return Console(stderr=True)


class Task:
    """A progress task handle: a rich bar, plain note lines, or nothing."""

    def __init__(self, progress=None, task_id=None, *, lines: bool = False):
        self._progress = progress
        self._id = task_id
        self._lines = lines
        self._started = time.perf_counter()

    def advance(self, n: int = 1, description: str | None = None) -> None:
        if self._progress is not None:
            kwargs = {"description": description} if description else {}
            self._progress.update(self._id, advance=n, **kwargs)

    def total(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._id, total=total)

    def note(self, text: str) -> None:
        """Report one finished unit of work: above the bar on a terminal, one plain
        stderr line (prefixed with the seconds since the step began) otherwise."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        elif self._lines:
            print(f"[{time.perf_counter() - self._started:7.1f}s] {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(description: str, total: int | None = None, *, show: bool | None = None) -> Iterator[Task]:
    """A progress display for one long step: ``with progress("fit", 10) as bar: bar.advance()``."""
    mode = _mode(show)
    if mode != BAR:
        yield Task(lines=mode == LINES)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(), transient=False) as bar:
        yield Task(bar, bar.add_task(description, total=total))
