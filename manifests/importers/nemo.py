"""NeMo JSONL manifests: ``{"audio_filepath", "duration", "text", "offset"?}`` per line.

NeMo has no utterance id: an ``id`` key is used when present (curate's NeMo export writes one),
otherwise the id is the audio path relative to the manifest's folder without its extension, with
``_<start ms>_<end ms>`` appended when the entry is a slice of its file. A missing ``duration``
means to the end of the file. Relative paths are taken from the manifest's folder, as NeMo does.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from ..problems import Problems
from ..record import Record
from .common import (ProbeCache, SourceError, clamp_slice, read_json_records, resolve_path,
                     seconds_field)

SUFFIXES = (".json", ".jsonl")


def manifest_file(path) -> Path:
    """The manifest itself, or the one NeMo manifest inside a folder."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        found = [p for p in sorted(path.iterdir()) if p.suffix in SUFFIXES and looks_like_nemo(p)]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(p.name for p in found)
            raise SourceError(f"{path} holds several NeMo manifests ({names}); pass the one to "
                              "import")
    raise SourceError(f"{path}: no NeMo manifest (a .json/.jsonl file with 'audio_filepath')")


def looks_like_nemo(path: Path) -> bool:
    obj = first_json_object(path)
    return isinstance(obj, dict) and "audio_filepath" in obj


def first_json_object(path: Path):
    """The first non-blank line of a file parsed as JSON, or None."""
    try:
        with open(path, "rb") as f:
            for raw in f:
                if raw.strip():
                    return json.loads(raw.decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def index_files(path) -> list[Path]:
    return [manifest_file(path)]


def read(path, problems: Problems) -> Iterator[Record]:
    path = manifest_file(path)
    base = path.resolve().parent
    probe = ProbeCache()
    yield from read_json_records(path, problems, lambda obj: _record(obj, base, probe), "id")


def _record(obj, base: Path, probe: ProbeCache) -> Record:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    src = obj.get("audio_filepath")
    if not isinstance(src, str) or not src:
        raise ValueError("missing or empty string field 'audio_filepath'")
    offset = seconds_field(obj, "offset") or 0.0
    duration = seconds_field(obj, "duration")
    audio = resolve_path(src, base)
    info = probe(audio)
    offset, duration = clamp_slice(offset, None if duration is None else offset + duration, info)
    rid = obj.get("id")
    if rid is None:
        rid = _derived_id(audio, base, offset, duration, info.duration)
    d = {k: v for k, v in obj.items() if k != "audio_filepath"}
    d.update(id=rid, audio=audio, offset=offset, duration=duration,
             sample_rate=info.sample_rate, channels=info.channels)
    return Record.from_dict(d)


def _derived_id(audio: str, base: Path, offset: float, duration: float, file_s: float) -> str:
    rel = os.path.relpath(audio, base)
    stem = os.path.splitext(os.path.basename(audio) if rel.startswith("..") else rel)[0]
    stem = stem.replace(os.sep, "/")
    if offset > 0 or duration < file_s - 1e-3:
        stem += f"_{round(offset * 1000):07d}_{round((offset + duration) * 1000):07d}"
    return stem

