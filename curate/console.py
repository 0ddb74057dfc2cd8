"""Terminal output shared by the commands: user-supplied strings are never read as rich markup,
and tables never cut a number or an id, whatever the terminal width or when piped."""
from __future__ import annotations

import errno

from rich.console import Console
from rich.markup import escape as _escape
from rich.measure import Measurement
from rich.table import Table as _Table

HEADER_WORD = 10  # a number column is at least this wide for its header; longer words fold
TEXT_ROOM = 20  # a text column keeps this many columns before number headers give up theirs
# Failures only a write can have; others (permission, not a directory) name the file alone.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def make_console(stderr: bool = False) -> Console:
    """A console that prints strings as given: rich would turn ``:car:`` in an id into an emoji."""
    return Console(stderr=stderr, emoji=False)


def escape(value) -> str:
    """``str(value)`` safe to print: rich markup escaped (an id or text holding ``[/]`` prints as
    it is), lone surrogates (a file name that is not UTF-8) shown as escapes."""
    from manifests.problems import printable
    return _escape(printable(str(value)))


def relative(path) -> str:
    """``path`` relative to the working directory when it lies below it, else as is."""
    import os

    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


SHOWN_PROBLEMS = 20


def print_problems(console, problems, title: str, full_list=None) -> None:
    """``file:line [id]: reason`` for each set-aside item, the first SHOWN_PROBLEMS of them."""
    from pathlib import Path

    from .checks.pii import redact_text  # an id or a quoted value can hold personal data

    items = list(problems)
    console.print(f"[yellow]{escape(title)}: {len(items)}[/]")
    for p in items[:SHOWN_PROBLEMS]:
        where = relative(Path(p.source)) + (f":{p.line}" if p.line else "")
        who = f" [{redact_text(p.id)}]" if p.id else ""
        console.print(f"  {escape(where + who)}: {escape(redact_text(p.reason))}", highlight=False)
    if len(items) > SHOWN_PROBLEMS:
        more = f"  … and {len(items) - SHOWN_PROBLEMS} more"
        console.print(more + (f" (full list: {escape(relative(full_list))})" if full_list else ""))


def os_error_line(e: OSError) -> str:
    """What a failed file operation says to the user: the file (a rename's target) and the
    system's reason, e.g. ``cannot write runs/x/manifest.jsonl: No space left on device``."""
    where = e.filename2 if e.filename2 is not None else e.filename
    reason = e.strerror or str(e)
    line = reason if where is None else f"{where}: {reason}"
    return f"cannot write {line}" if e.errno in WRITE_ERRNOS else line


class Table(_Table):
    """A rich Table whose number columns are never cut: each is at least as wide as its widest
    value, its header wrapping when the table is short of room, and whose other columns fold
    long words rather than cut them with "…": on a narrow terminal text and ids wrap."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._numbers: list[int] = []

    def add_column(self, *args, overflow="fold", **kwargs) -> None:
        super().add_column(*args, overflow=overflow, **kwargs)

    def add_number_column(self, header="", **kwargs) -> None:
        self._numbers.append(len(self.columns))
        self.add_column(header, justify="right", **kwargs)

    def __rich_console__(self, console, options):
        # Fixed widths are kept out of rich's shrinking, which would cut numbers when squeezed.
        def measure(renderable) -> Measurement:
            return Measurement.get(console, options, renderable)

        spare = options.max_width - self._extra_width - sum(
            self._get_padding_width(i) for i in range(len(self.columns)))
        tight, full = {}, {}
        for i, column in enumerate(self.columns):
            if i in self._numbers:
                values = max([1, *(measure(cell).maximum for cell in column.cells)])
                header = measure(column.header)
                tight[i] = max(values, min(header.minimum, HEADER_WORD))
                full[i] = max(values, header.maximum)
                spare -= tight[i]
            else:
                spare -= min(TEXT_ROOM, max(measure(cell).maximum
                                            for cell in [column.header, *column.cells]))
        for i in self._numbers:  # a header on one line while the text columns keep their room
            column = self.columns[i]
            column.width = full[i] if full[i] - tight[i] <= spare else tight[i]
            spare -= column.width - tight[i]
        yield from super().__rich_console__(console, options)
