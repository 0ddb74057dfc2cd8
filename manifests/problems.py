"""Collects input problems (bad lines, missing files) so a job can finish with the good records."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    source: str          # file the problem is in
    line: int | None     # 1-based line number, when the problem is a line
    id: str | None       # record id, when known
    reason: str

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        who = f" [{self.id}]" if self.id else ""
        return f"{where}{who}: {self.reason}"


class Problems:
    """An append-only list of problems, shared by the readers and importers of one job."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, source, reason: str, *, line: int | None = None, id: str | None = None) -> None:
        self.items.append(Problem(printable(str(source)), line,
                                  None if id is None else printable(id), printable(reason)))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


def printable(text: str) -> str:
    """``text`` with lone surrogates (from a ``\\ud800`` JSON escape or an undecodable file name)
    written as escapes, so a problem report can always be printed and written as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class IdGuard:
    """Sets aside repeated record ids, naming the line of the first occurrence."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self._first: dict[str, int | None] = {}

    def accept(self, rid: str, source, line: int | None) -> bool:
        if rid in self._first:
            first = self._first[rid]
            where = f" (first on line {first})" if first else ""
            self.problems.add(source, f"duplicate id{where}", line=line, id=rid)
            return False
        self._first[rid] = line
        return True
