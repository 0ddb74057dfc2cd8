"""WeNet raw ``data.list``: one JSON object per line, ``{"key", "wav", "txt"}``.

Optional ``start``/``end`` (seconds, as WeNet's raw reader takes them) make the entry a slice of
the file. Relative ``wav`` paths are taken from the list's folder. Other keys are kept as extra
fields; a missing ``txt`` imports the audio unlabelled.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..problems import Problems
from ..record import Record
from .common import (ProbeCache, SourceError, clamp_slice, read_json_records, resolve_path,
                     seconds_field)

LIST_NAME = "data.list"


def list_file(path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / LIST_NAME
    if not path.is_file():
        raise SourceError(f"{path} not found: a WeNet source is a data.list file or a folder "
                          f"holding one")
    return path


def index_files(path) -> list[Path]:
    return [list_file(path)]


def read(path, problems: Problems) -> Iterator[Record]:
    path = list_file(path)
    base = path.resolve().parent
    probe = ProbeCache()
    yield from read_json_records(path, problems, lambda obj: _record(obj, base, probe), "key")


def _record(obj, base: Path, probe: ProbeCache) -> Record:
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    for name in ("key", "wav"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise ValueError(f"missing or empty string field '{name}'")
    text = obj.get("txt", "")
    if not isinstance(text, str):
        raise ValueError("'txt' must be a string")
    start, end = seconds_field(obj, "start"), seconds_field(obj, "end")
    audio = resolve_path(obj["wav"], base)
    info = probe(audio)
    offset, duration = clamp_slice(start or 0.0, end, info)
    # Other keys ride along as extra fields; known record fields among them (speaker, hyp, ...)
    # are validated by Record.from_dict, and what the header says wins over what the list says.
    d = {k: v for k, v in obj.items() if k not in ("key", "wav", "txt", "start", "end")}
    if "spk" in d and "speaker" not in d:
        d["speaker"] = d.pop("spk")
    d.update(id=obj["key"], audio=audio, offset=offset, duration=duration, text=text.strip(),
             sample_rate=info.sample_rate, channels=info.channels)
    return Record.from_dict(d)
