"""Pieces every importer shares: line reading with problem reporting, header probes, id checks."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable, Iterator

from ..audio import END_SLACK_S, AudioError, AudioInfo, probe
from ..problems import IdGuard, Problems
from ..record import Record

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff", ".au", ".sph")

NOT_UTF8 = "not UTF-8 (convert the file, e.g. iconv -f GBK -t UTF-8); line set aside"


class SourceError(ValueError):
    """The source as a whole cannot be imported (not found, required file absent, ambiguous)."""


def read_lines(path: Path, problems: Problems, keyed: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for non-blank lines, newline stripped.

    A line that is not UTF-8 is recorded in ``problems`` and skipped (``keyed``: lines start with
    an id, which is named in the problem when it is plain ASCII). A file with no usable line
    at all is recorded as empty, so an empty input never passes silently.
    """
    seen = False
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            seen = True
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                problems.add(path, NOT_UTF8, line=lineno, id=_ascii_key(raw) if keyed else None)
                continue
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield lineno, line
    if not seen:
        problems.add(path, "empty file: no entries")


def _ascii_key(raw: bytes) -> str | None:
    """The first field of an undecodable line when it is plain ASCII (usually the id)."""
    head = raw.split(None, 1)[0] if raw.split() else b""
    try:
        return head.decode("ascii") or None
    except UnicodeDecodeError:
        return None


def read_key_values(path: Path, problems: Problems) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """Read a Kaldi-style ``key value...`` file: key, whitespace, the rest of the line.

    Returns ``key -> (value, line)`` and the keys whose line could not be decoded (so callers can
    set those utterances aside instead of treating them as unlabelled). Repeated keys keep the
    first occurrence; later ones are recorded as duplicates.
    """
    out: dict[str, tuple[str, int]] = {}
    undecodable: set[str] = set()
    guard = IdGuard(problems)
    before = len(problems)
    for lineno, line in read_lines(path, problems, keyed=True):
        parts = line.strip().split(None, 1)
        key, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
        if guard.accept(key, path, lineno):
            out[key] = (value, lineno)
    for p in problems.items[before:]:
        if p.reason == NOT_UTF8 and p.id:
            undecodable.add(p.id)
    return out, undecodable


class ProbeCache:
    """Header probes, once per file: many records (segments) can share one recording."""

    def __init__(self) -> None:
        self._seen: dict[str, AudioInfo | AudioError] = {}

    def __call__(self, path: str) -> AudioInfo:
        if path not in self._seen:
            try:
                self._seen[path] = probe(path)
            except AudioError as e:
                self._seen[path] = e
        result = self._seen[path]
        if isinstance(result, AudioError):
            raise result
        return result


_AUDIO_REASONS = {"missing_audio": "audio file not found",
                  "empty_audio": "zero-length or empty audio file",
                  "corrupt_audio": "corrupt or unsupported audio file",
                  "unreadable_audio": "audio file cannot be read",
                  "symlink_loop": "symlink loop"}


def audio_reason(e: AudioError) -> str:
    return _AUDIO_REASONS.get(e.reason, e.reason)


def audio_problem(e: AudioError) -> str:
    return f"{audio_reason(e)} ({e.detail})"


def audio_files(folder: Path) -> Iterator[str]:
    """Audio files under ``folder``, recursively and sorted, as relative posix paths.

    Hidden files and folders are skipped: ``.git``, ``.curate`` and macOS's AppleDouble
    ``._x.wav`` companions, which carry an audio extension but hold no audio.
    """
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith("."):
                yield Path(root, name).relative_to(folder).as_posix()


def resolve_path(path: str, base: Path) -> str:
    """An absolute, normalised path; relative paths are taken from ``base``."""
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base, path))


def clamp_slice(offset: float, end: float | None, info: AudioInfo) -> tuple[float, float]:
    """``(offset, duration)`` of a slice of a file, or ValueError with the reason.

    ``end`` None means to the end of the file; an end within END_SLACK_S past the end is clamped.
    """
    if not math.isfinite(offset) or (end is not None and not math.isfinite(end)):
        raise ValueError(f"times must be finite numbers, got start {offset!r} end {end!r}")
    if offset < 0:
        raise ValueError(f"negative start {offset:g}s")
    if offset >= info.duration:
        raise ValueError(f"starts at {offset:.3f}s, past the end of the file "
                         f"({info.duration:.3f}s)")
    if end is None:
        end = info.duration
    if end <= offset:
        raise ValueError(f"ends at {end:.3f}s, not after its start {offset:.3f}s")
    if end > info.duration + END_SLACK_S:
        raise ValueError(f"ends at {end:.3f}s, past the end of the file ({info.duration:.3f}s)")
    return offset, min(end, info.duration) - offset


def seconds_field(obj: dict, name: str) -> float | None:
    """An optional JSON field holding seconds; ValueError when it is not a finite number."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{name}' must be a number of seconds, got {value!r}")
    return float(value)


def read_json_records(path: Path, problems: Problems, make: Callable[[object], Record],
                      id_key: str) -> Iterator[Record]:
    """The loop of the JSON-lines importers: parse each line, build its record with ``make``, and
    report a bad line (not JSON, bad fields, unusable audio, repeated id) with its line and id."""
    guard = IdGuard(problems)
    for lineno, line in read_lines(path, problems):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.add(path, f"not valid JSON ({e.msg}, column {e.colno})", line=lineno)
            continue
        except (ValueError, RecursionError) as e:  # a 5000-digit number, [[[[...]]]] nesting
            problems.add(path, f"not valid JSON ({e})", line=lineno)
            continue
        rid = obj.get(id_key) if isinstance(obj, dict) else None
        rid = rid if isinstance(rid, str) else None
        try:
            record = make(obj)
        except AudioError as e:   # a ValueError too, so it is caught first
            problems.add(path, audio_problem(e), line=lineno, id=rid)
            continue
        except ValueError as e:
            problems.add(path, str(e), line=lineno, id=rid)
            continue
        if guard.accept(record.id, path, lineno):
            yield record
