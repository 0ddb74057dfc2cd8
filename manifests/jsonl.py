"""Streaming JSONL manifests: constant-memory reading, atomic writing, portable paths."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .problems import Problems
from .record import Record, RecordError


class ManifestError(ValueError):
    """A manifest line that cannot be read; the message names file and line."""


def read_manifest(path, problems: Problems | None = None) -> Iterator[Record]:
    """Yield records lazily. Relative audio paths resolve against the manifest's folder.

    A bad line raises ManifestError naming file and line, unless ``problems`` is given: then it is
    recorded there and skipped, so the caller keeps every good record.
    """
    path = Path(path)
    base = path.resolve().parent
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                record = Record.from_dict(json.loads(raw.decode("utf-8")))
            except UnicodeDecodeError:
                reason = "not UTF-8"
            except json.JSONDecodeError as e:
                reason = f"not valid JSON ({e.msg}, column {e.colno})"
            except RecordError as e:
                reason = str(e)
            else:
                record.audio = resolve_audio(record.audio, base)
                yield record
                continue
            if problems is None:
                raise ManifestError(f"{path}:{lineno}: {reason}")
            problems.add(path, reason, line=lineno)


def resolve_audio(audio: str, base: Path) -> str:
    return audio if os.path.isabs(audio) else os.path.normpath(base / audio)


def portable_audio(audio: str, base: Path) -> str:
    """Relative to ``base`` when the file lies inside it (the folder can move), else absolute."""
    try:
        return Path(audio).relative_to(base).as_posix()
    except ValueError:
        return audio


class ManifestWriter:
    """Writes records to ``path`` atomically: a temp file renamed into place on a clean close.

    An exception (or a kill) leaves no file at ``path`` that looks complete.
    """

    def __init__(self, path) -> None:
        self.path = Path(path)
        self.base = self.path.resolve().parent
        self.tmp = temp_path(self.path)
        self.count = 0
        self._f = None

    def open(self) -> "ManifestWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.tmp, "w", encoding="utf-8")
        return self

    def commit(self) -> None:
        """Close and move the complete file into place."""
        self._f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and remove the temp file; ``path`` is left as it was."""
        if self._f is not None and not self._f.closed:
            self._f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ManifestWriter":
        return self.open()

    def write(self, record: Record) -> None:
        d = record.to_dict()
        d["audio"] = portable_audio(record.audio, self.base)
        self._f.write(json.dumps(d, ensure_ascii=False) + "\n")
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_manifest(path, records: Iterable[Record]) -> int:
    """Write all records atomically; returns how many were written."""
    with ManifestWriter(path) as w:
        for r in records:
            w.write(r)
    return w.count


def temp_path(path: Path, kind: str = "tmp") -> Path:
    """The hidden sibling an atomic write fills (``kind`` "tmp") before renaming it over ``path``;
    per process, so concurrent writers never share one."""
    return path.with_name(f".{path.name}.{os.getpid()}.{kind}")


@contextmanager
def atomic_file(path, binary: bool = False):
    """A file written under a temp name and renamed over ``path`` only on a clean exit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with (open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8")) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)
