"""A run directory: kept, eval-only and rejected manifests, changed audio, and source accounting.

Manifests are written to temp files and renamed into place when the run completes; ``run.json``
is written last and is what marks a run directory complete.
"""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from manifests import ManifestWriter
from manifests.rundir import KINDS, file_name

from .stage import SR, Item

# Precedence when one input record's pieces end in several places: it counts where the best went.
KEPT, EVAL_ONLY, REJECTED = 2, 1, 0
OUTCOMES = {KEPT: "kept", EVAL_ONLY: "eval_only", REJECTED: "rejected"}
# UTF-8 bytes of an id kept readable in its file name: file systems allow 255 bytes a name, and
# a CJK Extension-B character takes 4, so a character count is no bound.
READABLE_BYTES = 120


def audio_name(record_id: str) -> str:
    """A file name for a record id: readable, filesystem-safe, at most 142 bytes, and unique via
    a 64-bit hash of the whole id (ids sharing the readable prefix differ there). Among ten million
    records the chance that two share a hash, and one's audio overwrites the other's, is 3e-6."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest()
    readable = re.sub(r"[^\w.+-]+", "_", record_id).encode()[:READABLE_BYTES]
    return f"{readable.decode(errors='ignore')}-{digest}.flac"  # a cut character is dropped


class RunOutput:
    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir)
        self.audio_dir = self.dir / "audio"
        self.writers = {kind: ManifestWriter(self.dir / file_name(kind)) for kind in KINDS}
        self.outcome: dict[str, int] = {}   # input id → best outcome of its pieces
        self.source_seconds: dict[str, float] = {}  # input id → seconds, in input order
        self.row_seconds = {name: 0.0 for name in self.writers}
        self.reasons: dict[str, int] = {}

    def __getstate__(self):  # workers need only where to put audio
        return {"dir": self.dir, "audio_dir": self.audio_dir}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def open(self) -> None:
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        try:
            for w in self.writers.values():
                w.open()
        except BaseException:
            self.abort()
            raise

    def count_input(self, record) -> None:
        self.outcome[record.id] = REJECTED
        self.source_seconds[record.id] = record.duration

    def store_audio(self, item: Item) -> None:
        """Encode a changed item's audio once (in a worker); the record then points at it."""
        if not item.changed:
            return
        path = self.audio_dir / audio_name(item.record.id)
        flac = io.BytesIO()  # encoded in memory, so a write error is Python's, naming the file
        sf.write(flac, np.clip(item.audio, -1.0, 1.0), SR, format="FLAC", subtype="PCM_16")
        try:
            path.write_bytes(flac.getbuffer())
        except OSError as e:
            path.unlink(missing_ok=True)  # part-written
            if e.filename is None:
                e.filename = str(path)
            raise
        rec = item.record
        rec.audio, rec.offset, rec.duration = str(path.resolve()), 0.0, len(item.audio) / SR
        rec.sample_rate, rec.channels = SR, 1
        item.changed = False

    def write(self, item: Item) -> None:
        rec = item.record
        if item.rejected:
            name, outcome = "rejected", REJECTED
            rec.extra["reason"], rec.extra["stage"] = item.rejected, item.rejected_by
            self.reasons[item.rejected] = self.reasons.get(item.rejected, 0) + 1
        elif rec.split == "eval_only":
            name, outcome = "eval_only", EVAL_ONLY
        else:
            name, outcome = "manifest", KEPT
        self.writers[name].write(rec)
        self.row_seconds[name] += rec.duration
        for src in item.sources:
            if self.outcome.get(src, REJECTED) < outcome:
                self.outcome[src] = outcome

    def commit(self) -> None:
        """All manifests move into place, or none: a failed rename or flush removes the rest."""
        done = []
        try:
            for w in self.writers.values():
                w.commit()
                done.append(w.path)
        except BaseException:
            self.abort()
            for path in done:
                path.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()

    def files(self) -> dict:
        """What run.json records of each manifest, so readers can tell it is the one written."""
        return {w.path.name: {"rows": w.count, "sha256": w.sha256} for w in self.writers.values()}

    def accounting(self) -> dict:
        """Input records and hours split by where they ended; balanced by construction."""
        counts = {name: 0 for name in OUTCOMES.values()}
        hours = {name: 0.0 for name in OUTCOMES.values()}
        for src, outcome in self.outcome.items():
            counts[OUTCOMES[outcome]] += 1
            hours[OUTCOMES[outcome]] += self.source_seconds[src] / 3600
        input_seconds = 0.0
        for seconds in self.source_seconds.values():  # in input order, one by one, as counted
            input_seconds += seconds
        return {
            "input_records": len(self.source_seconds),
            "input_hours": round(input_seconds / 3600, 6),
            "records": counts,
            "hours": {k: round(v, 6) for k, v in hours.items()},
            "rows": {name: w.count for name, w in self.writers.items()},
            "row_hours": {k: round(v / 3600, 6) for k, v in self.row_seconds.items()},
            "rejected_reasons": dict(sorted(self.reasons.items())),
        }
