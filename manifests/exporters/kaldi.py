"""Kaldi data dir: ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, and ``segments`` when any
record is a slice of a longer file.

All audio is at one sample rate (``sample_rate``, 16 kHz by default). A record whose file is at
that rate points at the file as it is, in its own format (Kaldi's own binaries read WAV only;
lhotse, ESPnet, WeNet and k2 read FLAC too); a record whose file is at another rate has its slice
resampled with soxr and written as 16-bit WAV, ``audio/<id>.wav`` inside the data dir, channels
kept. No ``sox ... |`` pipes: nothing in ``wav.scp`` is run by a shell.

Without slices, ``wav.scp`` is keyed by utterance id. With them, every utterance goes through
``segments`` and ``wav.scp`` lists each audio file once under a recording id made from its stem.
Files are sorted by byte order (Kaldi's ``LC_ALL=C sort``); audio paths are absolute. A record
without a speaker is its own speaker, the Kaldi convention. Ids are kept as they are, so when
utterance ids do not start with their speaker id, Kaldi's validate_data_dir.sh may ask for
``utils/fix_data_dir.sh``.

Set aside, with the reason: ids and speakers holding whitespace (Kaldi splits lines on it), a
repeated id, and audio paths Kaldi would misread: a line break, whitespace at either end (Kaldi
trims it), a trailing ``|`` (Kaldi runs the path as a shell command) or ``:<digits>`` at the end
(read as an archive offset). Labels are written on one line, their whitespace runs (line breaks
included) made single spaces.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, NamedTuple

from ..audio import TARGET_SR
from ..problems import IdGuard, Problems
from ..record import Record
from .common import (LINE_BREAK, AudioCheck, RecordingIds, atomic_dir, file_names, is_slice,
                     require_some, samples_at, shown, wav_bytes)

_SPACE = re.compile(r"\s")
_OFFSET = re.compile(r":\d+$")


class _Utt(NamedTuple):
    record: Record
    path: str        # the audio file, as wav.scp lists it
    start: float
    end: float
    sliced: bool     # covers less than its whole file


def export(records: Iterable[Record], out, problems: Problems, *,
           sample_rate: int = TARGET_SR) -> int:
    out = Path(out)
    final_audio = Path(os.path.abspath(out)) / "audio"   # where written files will lie
    check = AudioCheck(problems)
    ids = IdGuard(problems)
    names = file_names()
    kept: list[_Utt] = []
    with atomic_dir(out) as tmp:
        for record in records:
            bad = _id_problem(record)
            if bad:
                problems.add(shown(record.audio), bad, id=record.id)
                continue
            if not ids.accept(record.id, shown(record.audio), None):
                continue
            info = check(record)
            if info is None:
                continue
            resample = info.sample_rate != sample_rate
            path = (str(final_audio / f"{names(record.id)}.wav") if resample
                    else os.path.abspath(record.audio))
            bad = _path_problem(path)
            if bad:
                problems.add(shown(record.audio), bad, id=record.id)
                continue
            if resample:
                data, _ = samples_at(record, info, sample_rate)
                (tmp / "audio").mkdir(exist_ok=True)
                (tmp / "audio" / Path(path).name).write_bytes(
                    wav_bytes(data, sample_rate, "PCM_16"))
                kept.append(_Utt(record, path, 0.0, len(data) / sample_rate, False))
            else:
                kept.append(_Utt(record, path, record.offset, record.end,
                                 is_slice(record, info)))
        require_some(len(kept))
        _write_dir(tmp, kept)
    return len(kept)


def _write_dir(tmp: Path, kept: list[_Utt]) -> None:
    sliced = any(u.sliced for u in kept)
    rec_ids = RecordingIds()
    wav_scp, text, utt2spk, segments = {}, [], [], []
    spk2utt: dict[str, list[str]] = {}
    for record, path, start, end, _ in kept:
        speaker = record.speaker or record.id
        if sliced:
            rec = rec_ids(path)
            wav_scp[rec] = path
            segments.append(f"{record.id} {rec} {start:.4f} {end:.4f}")
        else:
            wav_scp[record.id] = path
        label = " ".join(record.text.split())
        text.append(f"{record.id} {label}" if label else record.id)
        utt2spk.append(f"{record.id} {speaker}")
        spk2utt.setdefault(speaker, []).append(record.id)
    _write(tmp / "wav.scp", [f"{k} {v}" for k, v in wav_scp.items()])
    _write(tmp / "text", text)
    _write(tmp / "utt2spk", utt2spk)
    _write(tmp / "spk2utt", [f"{s} {' '.join(sorted(u, key=_c))}" for s, u in spk2utt.items()])
    if sliced:
        _write(tmp / "segments", segments)


def _id_problem(record: Record) -> str | None:
    return next((f"{what} {value!r} contains whitespace, which Kaldi ids cannot hold"
                 for what, value in (("id", record.id), ("speaker", record.speaker))
                 if value is not None and _SPACE.search(value)), None)


def _path_problem(path: str) -> str | None:
    """Why Kaldi would misread ``path`` as the rest of a ``wav.scp`` line (ClassifyRxfilename)."""
    if LINE_BREAK.search(path):
        return f"audio path {path!r} holds a line break, which a wav.scp line cannot"
    if path != path.strip():
        return f"audio path {path!r} starts or ends with whitespace, which Kaldi trims"
    if path.endswith("|"):
        return f"audio path {path!r} ends with '|', which Kaldi runs as a shell command"
    if _OFFSET.search(path):
        return f"audio path {path!r} ends with ':<digits>', which Kaldi reads as an archive offset"
    return None


def _c(s: str) -> bytes:
    """Kaldi's ``LC_ALL=C`` order: by UTF-8 bytes."""
    return s.encode("utf-8")


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in sorted(lines, key=_c)), encoding="utf-8")
