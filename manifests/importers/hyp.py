"""Attach a small-model (Base1) ``name<TAB>text`` file to imported records as their ``hyp``."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from ..problems import Problems
from ..record import Record
from ..textfile import read_name_text


class HypAttacher:
    """Sets ``hyp`` on records whose id the file names; :meth:`report_unmatched` after the stream
    records the names that matched no record (typos, or audio that was set aside)."""

    def __init__(self, path, problems: Problems) -> None:
        self.path = Path(path)
        self.problems = problems
        self.hyps = read_name_text(self.path, problems)
        self.matched: set[str] = set()

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            hyp = self.hyps.get(record.id)
            if hyp is not None:
                record.hyp = hyp
                self.matched.add(record.id)
            yield record

    def unmatched(self) -> list[str]:
        return [name for name in self.hyps if name not in self.matched]

    def report_unmatched(self) -> None:
        for name in self.unmatched():
            self.problems.add(self.path, "hypothesis for a name that matches no record", id=name)
