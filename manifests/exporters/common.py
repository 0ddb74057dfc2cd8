"""Pieces the exporters share: atomic output folders, per-file header checks, recording ids."""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..audio import AudioError, AudioInfo
from ..importers.common import END_SLACK_S, ProbeCache, audio_problem
from ..jsonl import temp_path
from ..problems import Problems
from ..record import Record


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
        os.replace(tmp, path)
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
            self.problems.add(record.audio, audio_problem(e), id=record.id)
            return None
        if record.end > info.duration + END_SLACK_S:
            self.problems.add(record.audio, f"slice ends at {record.end:.3f}s, past the end of "
                                            f"the file ({info.duration:.3f}s)", id=record.id)
            return None
        return info


def is_slice(record: Record, info: AudioInfo) -> bool:
    """True when the record covers less than its whole file."""
    return record.offset > 1e-3 or record.duration < info.duration - 1e-3


class RecordingIds:
    """A stable id per audio file, from its stem (whitespace made ``_``, as Kaldi ids cannot hold
    it); a second file with the same stem gets ``-2``."""

    def __init__(self) -> None:
        self._by_path: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, audio: str) -> str:
        if audio not in self._by_path:
            stem = re.sub(r"\s+", "_", Path(audio).stem) or "recording"
            rid, n = stem, 1
            while rid in self._taken:
                n += 1
                rid = f"{stem}-{n}"
            self._by_path[audio] = rid
            self._taken.add(rid)
        return self._by_path[audio]
