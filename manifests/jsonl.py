"""Streaming JSONL manifests: constant-memory reading, atomic writing, portable paths."""
from __future__ import annotations

import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .problems import Problems
from .record import Record, RecordError


# A JSON escape in U+D800-U+DFFF: only a line holding one can decode to a lone surrogate.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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
                record = Record.from_dict(json.loads(raw.decode("utf-8")),
                                          surrogates=SURROGATE_ESCAPE.search(raw) is not None)
            except UnicodeDecodeError:
                reason = "not UTF-8"
            except json.JSONDecodeError as e:
                reason = f"not valid JSON ({e.msg}, column {e.colno})"
            except RecordError as e:
                reason = str(e)
            except (ValueError, RecursionError) as e:  # a 5000-digit number, [[[[...]]]] nesting
                reason = f"not valid JSON ({e})"
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

    An exception (or a kill) leaves no file at ``path`` that looks complete. The sha256 of what
    was written is kept as it is written, so a run can record it without reading the file again.
    """

    def __init__(self, path, base=None) -> None:
        self.path = Path(path)
        # audio paths are written relative to ``base`` (default: the manifest's folder)
        self.base = Path(base).resolve() if base is not None else self.path.resolve().parent
        self.tmp = temp_path(self.path)
        self.count = 0
        self._f = None
        self._sha256 = hashlib.sha256()

    def open(self) -> "ManifestWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        clear_stale_temps(self.path)
        try:
            self._f = open(self.tmp, "wb")
        except OSError as e:
            raise _named(e, self.path, self.tmp)
        return self

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def commit(self) -> None:
        """Close and move the complete file into place; on failure remove the temp file."""
        try:
            self._f.close()
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.abort()
            raise _named(e, self.path, self.tmp)

    def abort(self) -> None:
        """Close and remove the temp file; ``path`` is left as it was."""
        try:
            if self._f is not None and not self._f.closed:
                self._f.close()   # flushes what is buffered, which fails again on a full disk
        except OSError:
            pass                  # the error being handled already says so
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ManifestWriter":
        return self.open()

    def write(self, record: Record) -> None:
        d = record.to_dict()
        d["audio"] = portable_audio(record.audio, self.base)
        line = (json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self._f.write(line)
        except OSError as e:  # a full disk: the file object names no file
            raise _named(e, self.path, self.tmp)
        self._sha256.update(line)
        self.count += 1

    def write_bytes(self, data: bytes) -> None:
        """Whole manifest lines as bytes, already written once for this folder (joining the
        parts of a manifest); ``count`` is the caller's to keep."""
        try:
            self._f.write(data)
        except OSError as e:
            raise _named(e, self.path, self.tmp)
        self._sha256.update(data)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _named(e: OSError, path: Path, tmp: Path) -> OSError:
    """The error, naming the file being written rather than none or its hidden temp file."""
    if e.filename is None or e.filename == str(tmp):
        e.filename = str(path)
    return e


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


def clear_stale_temps(path: Path) -> None:
    """Remove the "tmp" siblings of ``path`` whose writer is gone (killed mid-write), so an
    interrupted write leaves nothing behind once the next write of ``path`` starts."""
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    prefix, suffix = f".{path.name}.", ".tmp"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):-len(suffix)]
        if name.startswith(prefix) and name.endswith(suffix) and pid.isdigit() \
                and not _alive(int(pid)):
            (path.parent / name).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's live process; a number no pid can be
        return True
    return True


@contextmanager
def atomic_file(path, binary: bool = False):
    """A file written under a temp name and renamed over ``path`` only on a clean exit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_temps(path)
    tmp = temp_path(path)
    try:
        with (open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8")) as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        raise _named(e, path, tmp)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)
