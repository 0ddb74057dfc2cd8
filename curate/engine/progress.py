"""Rich progress displays measured in audio hours, shared by the long-running commands."""
from __future__ import annotations

from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ..console import escape


class HoursPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        # Average since the start: work arrives in blocks, so rich's windowed speed is often unset.
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("", style="cyan")
        return Text(f"{task.completed / elapsed:.3f} h/s", style="cyan")


class Advance:
    """``advance(seconds)`` moves the bar on; ``advance.set_total(seconds)`` gives the total
    once it is known (a run learns it on its first full read of the input)."""

    def __init__(self, progress: Progress, task) -> None:
        self._progress, self._task = progress, task

    def __call__(self, seconds: float) -> None:
        self._progress.advance(self._task, seconds / 3600)

    def set_total(self, seconds: float) -> None:
        hours = max(seconds / 3600, 1e-9)
        self._progress.update(self._task, total=hours, shown_total=f"{hours:.3f}")


@contextmanager
def hours_progress(console, total_seconds: float | None, label: str):
    """Yields ``advance(seconds)`` (an :class:`Advance`); the bar shows audio hours done, total
    and hours per second. A total of None is unknown until ``advance.set_total``."""
    columns = (TextColumn(f"[bold]{escape(label)}"), BarColumn(),
               TextColumn("{task.completed:.3f}/{task.fields[shown_total]} h"), HoursPerSecond(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=None, shown_total="?")
        advance = Advance(progress, task)
        if total_seconds is not None:
            advance.set_total(total_seconds)
        yield advance


@contextmanager
def records_progress(console, verb: str):
    """A live count of records and audio hours processed, with hours/second; yields the
    per-record callback."""
    columns = (SpinnerColumn(), TextColumn(f"[bold]{escape(verb)}[/] {{task.fields[records]}} "
                                           "records, {task.completed:.3f} h"),
               HoursPerSecond(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("import", total=None, records=0)
        count = 0

        def on_record(record) -> None:
            nonlocal count
            count += 1
            progress.update(task, advance=record.duration / 3600, records=count)
        yield on_record
