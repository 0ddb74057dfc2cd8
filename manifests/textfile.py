"""``name<TAB>text`` files: labels, Base1 hypotheses and inference outputs."""
from __future__ import annotations

from pathlib import Path

from .problems import IdGuard, Problems


def read_name_text(path, problems: Problems) -> dict[str, str]:
    """Read ``name<TAB>text`` lines (split on the first tab; text may hold spaces or be empty).

    Lines without a tab, non-UTF-8 lines and repeated names are recorded in ``problems`` with
    their line numbers and left out; the first occurrence of a repeated name is kept.
    """
    path = Path(path)
    out: dict[str, str] = {}
    guard = IdGuard(problems)
    for lineno, line in enumerate(_lines(path.read_bytes()), 1):
        if line is None:
            problems.add(path, "not UTF-8", line=lineno)
            continue
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        name, tab, text = line.partition("\t")
        name = name.strip()
        if not tab:
            problems.add(path, "no tab between name and text", line=lineno, id=name or None)
            continue
        if not name:
            problems.add(path, "empty name", line=lineno)
            continue
        if guard.accept(name, path, lineno):
            out[name] = text.strip()
    return out


def _lines(data: bytes) -> list[str | None]:
    """The lines of a file (split on newline bytes only), None for a line that is not UTF-8.

    Decoded in one piece, as nearly every file is valid; a newline byte never occurs inside a
    UTF-8 sequence, so splitting before or after decoding gives the same lines.
    """
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        pass
    lines: list[str | None] = []
    for raw in data.split(b"\n"):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(None)
    return lines


def write_name_text(path, rows) -> None:
    """Write ``(name, text)`` pairs atomically."""
    from .jsonl import atomic_write_text
    atomic_write_text(path, "".join(f"{n}\t{t}\n" for n, t in rows))
