"""NeMo JSONL manifest: ``audio_filepath``, ``duration``, ``offset``, ``text`` per line.

Every other field of the record (``id``, ``hyp``, ``speaker``, ``tags``...) is written too: NeMo
ignores keys it does not use, and curate's NeMo importer reads them back, so the round trip is
lossless. Audio paths are relative to the manifest's folder when the file lies inside it (NeMo
resolves them from there), absolute otherwise. No sample rate is written: NeMo's loader resamples
each file to the model's rate, so sources at mixed rates need no conversion.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..jsonl import atomic_file, portable_audio
from ..problems import Problems
from ..record import Record
from .common import AudioCheck, json_line, require_some


def export(records: Iterable[Record], out, problems: Problems) -> int:
    out = Path(out)
    base = out.resolve().parent
    check = AudioCheck(problems)
    count = 0
    with atomic_file(out) as f:
        for record in records:
            if check(record) is None:
                continue
            d = record.to_dict()
            line = {"audio_filepath": portable_audio(d.pop("audio"), base),
                    "duration": d.pop("duration"), "offset": d.pop("offset"),
                    "text": d.pop("text"), **d}
            f.write(json_line(line))
            count += 1
        require_some(count)
    return count
