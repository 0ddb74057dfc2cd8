"""WeNet raw ``data.list``: ``{"key", "wav", "txt"}`` per line, plus ``start``/``end`` in seconds
for records that are slices of a longer file (WeNet's raw reader cuts those out).

``wav`` is absolute: WeNet opens it as written, from wherever training runs. ``spk`` and ``hyp``
are added when the record has them (WeNet ignores them; curate's importer reads them back).
No sample rate is written: WeNet's ``resample`` step brings each file to the training rate, so
sources at mixed rates need no conversion.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..jsonl import atomic_file
from ..problems import Problems
from ..record import Record
from .common import AudioCheck, is_slice, json_line, require_some


def export(records: Iterable[Record], out, problems: Problems) -> int:
    check = AudioCheck(problems)
    count = 0
    with atomic_file(Path(out)) as f:
        for record in records:
            info = check(record)
            if info is None:
                continue
            line = {"key": record.id, "wav": record.audio, "txt": record.text}
            if is_slice(record, info):
                line.update(start=round(record.offset, 4), end=round(record.end, 4))
            if record.speaker is not None:
                line["spk"] = record.speaker
            if record.hyp is not None:
                line["hyp"] = record.hyp
            f.write(json_line(line))
            count += 1
        require_some(count)
    return count
