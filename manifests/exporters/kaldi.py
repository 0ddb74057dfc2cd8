"""Kaldi data dir: ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, and ``segments`` when any
record is a slice of a longer file.

Without slices, ``wav.scp`` is keyed by utterance id. With them, every utterance goes through
``segments`` and ``wav.scp`` lists each audio file once under a recording id made from its stem.
Files are sorted by byte order (Kaldi's ``LC_ALL=C sort``); audio paths are absolute. A record
without a speaker is its own speaker, the Kaldi convention. Ids are kept as they are, so when
utterance ids do not start with their speaker id, Kaldi's validate_data_dir.sh may ask for
``utils/fix_data_dir.sh``. Ids containing whitespace cannot be written and are set aside.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ..problems import Problems
from ..record import Record
from .common import AudioCheck, RecordingIds, atomic_dir, is_slice, require_some

_SPACE = re.compile(r"\s")


def export(records: Iterable[Record], out, problems: Problems) -> int:
    out = Path(out)
    check = AudioCheck(problems)
    kept: list[tuple[Record, bool]] = []
    for record in records:
        bad = next((f"{what} '{value}' contains whitespace, which Kaldi ids cannot hold"
                    for what, value in (("id", record.id), ("speaker", record.speaker))
                    if value is not None and _SPACE.search(value)), None)
        if bad:
            problems.add(record.audio, bad, id=record.id)
            continue
        info = check(record)
        if info is not None:
            kept.append((record, is_slice(record, info)))
    sliced = any(s for _, s in kept)
    rec_ids = RecordingIds()
    wav_scp, text, utt2spk, segments = {}, [], [], []
    spk2utt: dict[str, list[str]] = {}
    for record, _ in kept:
        speaker = record.speaker or record.id
        if sliced:
            rec = rec_ids(record.audio)
            wav_scp[rec] = record.audio
            segments.append(f"{record.id} {rec} {record.offset:.4f} {record.end:.4f}")
        else:
            wav_scp[record.id] = record.audio
        label = " ".join(record.text.split())
        text.append(f"{record.id} {label}" if label else record.id)
        utt2spk.append(f"{record.id} {speaker}")
        spk2utt.setdefault(speaker, []).append(record.id)
    with atomic_dir(out) as tmp:
        require_some(len(kept))
        _write(tmp / "wav.scp", [f"{k} {v}" for k, v in wav_scp.items()])
        _write(tmp / "text", text)
        _write(tmp / "utt2spk", utt2spk)
        _write(tmp / "spk2utt", [f"{s} {' '.join(sorted(u, key=_c))}" for s, u in spk2utt.items()])
        if sliced:
            _write(tmp / "segments", segments)
    return len(kept)


def _c(s: str) -> bytes:
    """Kaldi's ``LC_ALL=C`` order: by UTF-8 bytes."""
    return s.encode("utf-8")


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in sorted(lines, key=_c)), encoding="utf-8")
