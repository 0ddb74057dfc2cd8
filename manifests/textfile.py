"""``name<TAB>text`` files: labels, Base1 hypotheses and inference outputs."""
from __future__ import annotations

from pathlib import Path

from .problems import Problems


def read_name_text(path, problems: Problems) -> dict[str, str]:
    """Read ``name<TAB>text`` lines (split on the first tab; text may hold spaces or be empty).

    Lines without a tab, non-UTF-8 lines and repeated names are recorded in ``problems`` with
    their line numbers and left out; the first occurrence of a repeated name is kept.
    """
    path = Path(path)
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                problems.add(path, "not UTF-8", line=lineno)
                continue
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
            if name in out:
                problems.add(path, f"duplicate id (first on line {first_line[name]})",
                             line=lineno, id=name)
                continue
            out[name] = text.strip()
            first_line[name] = lineno
    return out


def write_name_text(path, rows) -> None:
    """Write ``(name, text)`` pairs atomically."""
    from .jsonl import atomic_write_text
    atomic_write_text(path, "".join(f"{n}\t{t}\n" for n, t in rows))
