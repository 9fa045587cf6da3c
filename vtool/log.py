"""Logs, warnings and progress bars: always on stderr, progress only on a TTY.

The library calls these; the CLI decides how loud they are (--quiet).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

_console = Console(stderr=True, highlight=False)
_state = {"quiet": False}


def configure(quiet: bool = False) -> None:
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def info(message: str) -> None:
    if not _state["quiet"] and sys.stderr.isatty():
        _console.print(message)


def warning(message: str) -> None:
    """Warnings are shown even when stderr is not a TTY (they matter in a cron log)."""
    if not _state["quiet"]:
        print(f"vtool: warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield advance(n); draws a bar only when stderr is an interactive terminal."""
    if _state["quiet"] or not sys.stderr.isatty():
        yield lambda n: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
