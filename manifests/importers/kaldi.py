"""Kaldi / WeNet data directories: ``wav.scp``, ``text``, and optional ``segments`` and ``utt2spk``.

Without ``segments`` each ``wav.scp`` entry is one utterance; with it, each segment line is one
utterance, a slice ``[start, end)`` of its recording (``end`` -1 means the end of the file), and
recordings no segment names are not imported, as in Kaldi. An utterance that is its own speaker
in ``utt2spk`` (Kaldi's way of saying "speaker unknown") gets no speaker. Relative audio paths
are looked up in the data dir, then in its parent and grandparent (Kaldi recipes write them
relative to the recipe root, two levels above ``data/train``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

from ..audio import AudioError
from ..problems import IdGuard, Problems
from ..record import Record, RecordError
from .common import (NOT_UTF8, ProbeCache, SourceError, audio_problem, audio_reason, clamp_slice,
                     read_key_values, read_lines)

OPTIONAL = ("text", "segments", "utt2spk")
_ARK = re.compile(r"\.ark:\d+$")


def data_dir(path) -> Path:
    path = Path(path)
    d = path.parent if path.is_file() and path.name == "wav.scp" else path
    if not (d / "wav.scp").is_file():
        raise SourceError(f"{d} is not a Kaldi data dir: it has no wav.scp")
    return d


def index_files(path) -> list[Path]:
    d = data_dir(path)
    return [d / "wav.scp"] + [d / n for n in OPTIONAL if (d / n).is_file()]


def read(path, problems: Problems) -> Iterator[Record]:
    d = data_dir(path)
    scp = d / "wav.scp"
    entries, bad_scp = read_key_values(scp, problems)
    texts, bad_text = _optional(d / "text", problems)
    speakers, _ = _optional(d / "utt2spk", problems)
    recordings, failed = _recordings(scp, entries, d, problems)
    probe = ProbeCache()
    guard = IdGuard(problems)
    named: set[str] = set()   # utterance ids some line named (good or bad)

    def make(uid: str, audio: str, offset: float, end: float | None, source, line) -> Record | None:
        info = probe(audio)
        try:
            offset, duration = clamp_slice(offset, end, info)
        except ValueError as e:
            problems.add(source, f"segment {e}", line=line, id=uid)
            return None
        spk = speakers.get(uid)
        try:
            return Record.from_dict({
                "id": uid, "audio": audio, "offset": offset, "duration": duration,
                "text": texts[uid][0] if uid in texts else "",
                "speaker": spk[0] if spk and spk[0] != uid else None,
                "sample_rate": info.sample_rate, "channels": info.channels})
        except RecordError as e:   # an audio path that is not UTF-8
            problems.add(source, str(e), line=line, id=uid)
            return None

    segments = d / "segments"
    if segments.is_file():
        for lineno, line in read_lines(segments, problems, keyed=True):
            fields = line.split()
            if len(fields) != 4:
                problems.add(segments, "expected 'utterance-id recording-id start end'",
                             line=lineno, id=fields[0] if fields else None)
                continue
            uid, rec, start, end = fields
            named.add(uid)
            try:
                start_s, end_s = float(start), float(end)
            except ValueError:
                problems.add(segments, f"start/end are not numbers: {start!r} {end!r}",
                             line=lineno, id=uid)
                continue
            if not guard.accept(uid, segments, lineno) or uid in bad_text:
                continue
            if rec not in recordings:
                why = ("its wav.scp line is unreadable" if rec in bad_scp
                       else failed.get(rec, "it is not in wav.scp"))
                problems.add(segments, f"recording '{rec}' cannot be used: {why}",
                             line=lineno, id=uid)
                continue
            audio, scp_line = recordings[rec]
            try:
                record = make(uid, audio, start_s, None if end_s == -1 else end_s,
                              segments, lineno)
            except AudioError as e:
                if rec not in failed:
                    problems.add(scp, audio_problem(e), line=scp_line, id=rec)
                    failed[rec] = f"{audio_reason(e)} (see wav.scp:{scp_line})"
                problems.add(segments, f"recording '{rec}' cannot be used: {failed[rec]}",
                             line=lineno, id=uid)
                continue
            if record is not None:
                yield record
    else:
        named.update(entries)
        for uid, (audio, scp_line) in recordings.items():
            if uid in bad_text:
                continue
            try:
                record = make(uid, audio, 0.0, None, scp, scp_line)
            except AudioError as e:
                problems.add(scp, audio_problem(e), line=scp_line, id=uid)
                continue
            if record is not None:
                yield record

    where = "segments" if segments.is_file() else "wav.scp"
    # an utterance whose segments line could not be decoded was already reported there
    named.update(p.id for p in problems if p.reason == NOT_UTF8 and p.id)
    for name, table in (("text", texts), ("utt2spk", speakers)):
        for uid, (_, lineno) in table.items():
            if uid not in named:
                problems.add(d / name, f"no utterance with this id in {where}", line=lineno, id=uid)


def _optional(path: Path, problems: Problems):
    return read_key_values(path, problems) if path.is_file() else ({}, set())


def _recordings(scp: Path, entries: dict, d: Path, problems: Problems):
    """Recording id -> (absolute audio path, wav.scp line) for the entries curate can read, and
    recording id -> why, for those it set aside (so segments on them can say why)."""
    usable, failed = {}, {}
    for rec, (target, lineno) in entries.items():
        if not target:
            why = "no audio path after the recording id"
        elif target.endswith("|"):
            why = ("pipe commands are not supported: convert the audio to files (e.g. with sox) "
                   "and list their paths")
        elif _ARK.search(target):
            why = "Kaldi archive (ark) entries are not supported: list audio files"
        else:
            usable[rec] = (_locate(target, d), lineno)
            continue
        problems.add(scp, why, line=lineno, id=rec)
        failed[rec] = f"{why.split(':')[0]} (see wav.scp:{lineno})"
    return usable, failed


def _locate(target: str, d: Path) -> str:
    if os.path.isabs(target):
        return os.path.normpath(target)
    for base in (d, d.parent, d.parent.parent):
        candidate = os.path.normpath(os.path.abspath(base / target))
        if os.path.exists(candidate):
            return candidate
    return os.path.normpath(os.path.abspath(d / target))
