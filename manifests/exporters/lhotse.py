"""Lhotse cuts JSONL, as ``CutSet.from_jsonl`` (or ``load_manifest_lazy``) reads it.

Each record becomes a cut over ``[offset, offset+duration)`` of a Recording (one per audio file,
sources of type ``file``, rate, channels and sample count from the header). Mixed rates are
recorded as they are; ``cuts.resample(16000)`` brings them to one when loaded. Mono files give
a ``MonoCut``; multi-channel files give a ``MultiCut`` over all channels, as lhotse itself does
(``cut.to_mono(mono_downmix=True)`` mixes them down). The label is one SupervisionSegment over
the whole cut; a record with sentence timestamps (``segments``) gets one supervision per
sentence instead. ``hyp`` and ``tags`` travel in the cut's ``custom`` fields. A ``.gz`` suffix on
the output writes it gzip-compressed (lhotse reads both).
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Iterable

from ..audio import AudioInfo
from ..jsonl import atomic_file
from ..problems import Problems
from ..record import Record
from .common import AudioCheck, RecordingIds, is_slice, json_line, require_some


def export(records: Iterable[Record], out, problems: Problems) -> int:
    out = Path(out)
    check = AudioCheck(problems)
    rec_ids = RecordingIds()
    count = 0
    with atomic_file(out, binary=True) as raw, (
            gzip.open(raw, "wt", encoding="utf-8") if out.suffix == ".gz"
            else io.TextIOWrapper(raw, encoding="utf-8")) as f:
        for record in records:
            info = check(record)
            if info is None:
                continue
            f.write(json_line(cut(record, info, rec_ids(record.audio))))
            count += 1
        require_some(count)
    return count


def cut(record: Record, info: AudioInfo, recording_id: str) -> dict:
    channels = list(range(info.channels))
    channel = 0 if info.channels == 1 else channels
    recording = {"id": recording_id,
                 "sources": [{"type": "file", "channels": channels,
                              "source": os.path.abspath(record.audio)}],
                 "sampling_rate": info.sample_rate, "num_samples": info.frames,
                 "duration": info.duration, "channel_ids": channels}
    # Manifests round durations to 0.1 ms; a whole-file cut takes the exact length from the
    # header so lhotse loads every sample. Slices are clamped to the file: lhotse rejects a cut
    # that ends past its recording.
    if is_slice(record, info):
        offset, duration = record.offset, min(record.duration, info.duration - record.offset)
    else:
        offset, duration = 0.0, info.duration
    spans = ([(f"{record.id}-{i}", s["start"], s["end"], s.get("text", ""))
              for i, s in enumerate(record.segments)]
             if record.segments else [(record.id, 0.0, duration, record.text)])
    supervisions = []
    for sid, start, end, text in spans:
        sup = {"id": sid, "recording_id": recording_id, "start": round(start, 6),
               "duration": round(end - start, 6), "channel": channel, "text": text}
        if record.speaker is not None:
            sup["speaker"] = record.speaker
        supervisions.append(sup)
    out = {"id": record.id, "start": offset, "duration": duration,
           "channel": channel, "supervisions": supervisions, "recording": recording,
           "type": "MonoCut" if info.channels == 1 else "MultiCut"}
    custom = {k: v for k, v in (("hyp", record.hyp), ("tags", record.tags)) if v}
    if custom:
        out["custom"] = custom
    return out
