"""Pieces the exporters share: atomic output folders, per-file header checks, recording ids,
slices decoded at the export rate."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from ..audio import AudioError, AudioInfo
from ..importers.common import END_SLACK_S, ProbeCache, audio_problem
from ..jsonl import temp_path
from ..problems import Problems
from ..record import Record


# every character str.splitlines() breaks a line at: none may reach a line-based file
LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def shown(text: str) -> str:
    """``text`` with its line breaks escaped (``\\n``), for a one-line problem report."""
    return LINE_BREAK.sub(lambda m: repr(m.group())[1:-1], text)


# json.dumps escapes the other line breaks; with ensure_ascii=False it leaves these three raw
_JSON_RAW_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(obj) -> str:
    """One JSON Lines line for ``obj``: non-ASCII text kept readable, and no character left in
    it that any reader (``str.splitlines`` included) takes for a line break."""
    return json.dumps(obj, ensure_ascii=False).translate(_JSON_RAW_BREAKS) + "\n"


class NothingToExport(ValueError):
    """No record could be exported; raised inside the atomic write, so nothing is written."""


def require_some(count: int) -> None:
    if count == 0:
        raise NothingToExport("no record could be exported; nothing was written")


@contextmanager
def atomic_dir(path: Path):
    """A folder filled under a temp name and swapped in for ``path`` only on a clean exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = temp_path(path), temp_path(path, "old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old.exists():
                os.replace(old, path)   # the previous output stays
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


class AudioCheck:
    """Header facts of each record's file, probed once per file; records whose audio is missing
    or unreadable, or whose slice runs past the end of the file, are set aside with the reason."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self._probe = ProbeCache()

    def __call__(self, record: Record) -> AudioInfo | None:
        try:
            info = self._probe(record.audio)
        except AudioError as e:
            self.problems.add(shown(record.audio), audio_problem(e), id=record.id)
            return None
        if record.end > info.duration + END_SLACK_S:
            self.problems.add(shown(record.audio), f"slice ends at {record.end:.3f}s, past the "
                              f"end of the file ({info.duration:.3f}s)", id=record.id)
            return None
        return info


def is_slice(record: Record, info: AudioInfo) -> bool:
    """True when the record covers less than its whole file."""
    return record.offset > 1e-3 or record.duration < info.duration - 1e-3


class UniqueNames:
    """A stable name per key, made by ``clean(key)``; a later key whose name is taken gets
    ``-2``, ``-3``..."""

    def __init__(self, clean: Callable[[str], str]) -> None:
        self._clean = clean
        self._by_key: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, key: str) -> str:
        if key not in self._by_key:
            base = self._clean(key)
            name, n = base, 1
            while name in self._taken:
                n += 1
                name = f"{base}-{n}"
            self._by_key[key] = name
            self._taken.add(name)
        return self._by_key[key]


class RecordingIds(UniqueNames):
    """A stable id per audio file, from its stem (whitespace made ``_``, as Kaldi ids cannot hold
    it); a second file with the same stem gets ``-2``."""

    def __init__(self) -> None:
        super().__init__(lambda audio: re.sub(r"\s+", "_", Path(audio).stem) or "recording")


def file_names() -> UniqueNames:
    """Names for audio files written from record ids: only word characters, ``.`` and ``-``
    (a record id may hold ``/`` or start with ``..``), at most 100 characters, unique."""
    return UniqueNames(lambda rid: re.sub(r"[^\w.-]", "_", rid)[:100].lstrip(".") or "record")


def samples_at(record: Record, info: AudioInfo, sample_rate: int) -> tuple[np.ndarray, str]:
    """The record's slice as float32 ``[frames, channels]`` at ``sample_rate`` (resampled with
    soxr, as curate's own decoding does; channels kept), and the file's sample format."""
    start = int(round(record.offset * info.sample_rate))
    stop = min(info.frames, start + int(round(record.duration * info.sample_rate)))
    with sf.SoundFile(record.audio) as src:   # one open: samples and sample format
        start, stop, _ = slice(start, stop).indices(src.frames)   # as sf.read(start=, stop=)
        src.seek(start)
        data = src.read(max(stop - start, 0), dtype="float32", always_2d=True)
        subtype = src.subtype
    if info.sample_rate != sample_rate:
        import soxr  # imported here: only files at another rate need it
        data = soxr.resample(data, info.sample_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(data, dtype=np.float32), subtype


def wav_bytes(data: np.ndarray, sample_rate: int, subtype: str) -> bytes:
    """``data`` as a WAV file in ``subtype``, or FLOAT where WAV cannot hold it (libsndfile clips
    samples that resampling pushed past full scale)."""
    buf = io.BytesIO()
    sf.write(buf, data, sample_rate, format="WAV",
             subtype=subtype if sf.check_format("WAV", subtype) else "FLOAT")
    return buf.getvalue()
