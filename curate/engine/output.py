"""What a run writes: each shard's manifests, audio and accounting, then the run's manifests.

A shard (a block of consecutive input records, fixed by the input alone) is written by the worker
that ran it, into ``shards/NNNNNN/`` under the run directory: its part of each manifest, with audio
paths relative to the run directory, and ``shard.json`` (statistics and accounting). The folder is
filled under a temporary name and renamed into place last, so a finished shard is whole and an
unfinished one is absent: an interrupted run reuses every finished shard. The main process keeps
no per-record state; at the end it joins the shards' manifests, in order, into the run's own
(moved into place all together or not at all), and adds up their accounting.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from collections import deque
from pathlib import Path

import numpy as np
import soundfile as sf

from manifests import ManifestWriter
from manifests.jsonl import temp_path
from manifests.rundir import KINDS, file_name

from ..stage import SR, Item

# Precedence when one input record's pieces end in several places: it counts where the best went.
KEPT, EVAL_ONLY, REJECTED = 2, 1, 0
OUTCOMES = {KEPT: "kept", EVAL_ONLY: "eval_only", REJECTED: "rejected"}
# UTF-8 bytes of an id kept readable in its file name: file systems allow 255 bytes a name, and
# a CJK Extension-B character takes 4, so a character count is no bound.
READABLE_BYTES = 120
SHARDS = "shards"
SHARD_JSON = "shard.json"


def audio_name(record_id: str) -> str:
    """A file name for a record id: readable, filesystem-safe, at most 142 bytes, and unique via
    a 64-bit hash of the whole id (ids sharing the readable prefix differ there). Among ten million
    records the chance that two share a hash, and one's audio overwrites the other's, is 3e-6."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest()
    readable = re.sub(r"[^\w.+-]+", "_", record_id).encode()[:READABLE_BYTES]
    return f"{readable.decode(errors='ignore')}-{digest}.flac"  # a cut character is dropped


class AudioStore:
    """Writes the audio a stage changed, once, in the worker; the record then points at it.

    The FLAC encoding and the write run on a thread of the worker (libsndfile and the file write
    release the GIL), so they overlap the next records' decoding and stages: at most
    ``IN_FLIGHT`` clips wait, and :meth:`flush` waits for all of them, raising the first error
    (a full disk, a read-only folder) as the write itself would have. A shard is committed only
    after its flush, so a finished shard's audio is all on disk."""

    IN_FLIGHT = 4

    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir) / "audio"
        self._pending: deque = deque()

    def store(self, item: Item) -> None:
        if not item.changed:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / audio_name(item.record.id)
        # The thread keeps the array alive; no stage touches a record's audio once it is stored.
        self._pending.append(worker_thread("audio").submit(_write_flac, path, item.audio))
        while len(self._pending) > self.IN_FLIGHT:
            self._pending.popleft().result()
        rec = item.record
        rec.audio, rec.offset, rec.duration = str(path.resolve()), 0.0, len(item.audio) / SR
        rec.sample_rate, rec.channels = SR, 1
        item.changed = False

    def flush(self) -> None:
        """Wait for every clip given so far; the first write error is raised (after all)."""
        error = None
        while self._pending:
            try:
                self._pending.popleft().result()
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the rest
                error = error or e
        if error is not None:
            raise error


_THREADS: dict = {}   # name → this process's thread of that name


def worker_thread(name: str):
    """This process's one thread ``name`` (an executor of one worker, made on first use): the
    shards a process runs (Ray tasks too) share it, and a forked worker, which inherits the
    object but not its thread, makes its own."""
    pool = _THREADS.get(name)
    if pool is None:
        from concurrent.futures import ThreadPoolExecutor
        pool = _THREADS[name] = ThreadPoolExecutor(1, thread_name_prefix=f"curate-{name}")
    return pool


os.register_at_fork(after_in_child=_THREADS.clear)


def _write_flac(path: Path, audio: np.ndarray) -> None:
    if max(float(audio.max()), -float(audio.min())) > 1.0:
        audio = np.clip(audio, -1, 1)  # not every libsndfile clips a float past full scale
    flac = io.BytesIO()  # encoded in memory, so a write error is Python's, naming the file
    sf.write(flac, audio, SR, format="FLAC", subtype="PCM_16")
    try:
        path.write_bytes(flac.getbuffer())
    except OSError as e:
        path.unlink(missing_ok=True)  # part-written
        if e.filename is None:
            e.filename = str(path)
        raise


def shard_dir(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / SHARDS / f"{index:06d}"


class ShardOutput:
    """One shard's manifests and accounting, written in the worker that runs the shard."""

    def __init__(self, out_dir: Path, index: int) -> None:
        self.out_dir = Path(out_dir)
        self.final = shard_dir(out_dir, index)
        self.tmp = temp_path(self.final)
        self.writers = {kind: ManifestWriter(self.tmp / file_name(kind), base=self.out_dir)
                        for kind in KINDS}
        self.outcome: dict[str, int] = {}   # input id → best outcome of its pieces
        self.source_seconds: dict[str, float] = {}  # input id → seconds, in input order
        self.row_seconds = {kind: 0.0 for kind in KINDS}
        self.reasons: dict[str, int] = {}
        # rows repeating an earlier input id: input rows of their own, rejected, but not keyed by
        # id (the id is the first row's)
        self.repeats = 0
        self.repeat_seconds = 0.0

    def open(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)  # a leftover of a killed worker
        self.tmp.mkdir(parents=True)
        for w in self.writers.values():
            w.open()

    def count_input(self, record) -> None:
        self.outcome[record.id] = REJECTED
        self.source_seconds[record.id] = record.duration

    def count_repeat(self, record) -> None:
        """An input row under an id already seen, set aside before the stages."""
        self.repeats += 1
        self.repeat_seconds += record.duration

    def write(self, item: Item) -> None:
        rec = item.record
        if item.rejected:
            kind, outcome = "rejected", REJECTED
            rec.extra["reason"], rec.extra["stage"] = item.rejected, item.rejected_by
            self.reasons[item.rejected] = self.reasons.get(item.rejected, 0) + 1
        elif rec.split == "eval_only":
            kind, outcome = "eval_only", EVAL_ONLY
        else:
            kind, outcome = "manifest", KEPT
        self.writers[kind].write(rec)
        self.row_seconds[kind] += rec.duration
        for src in item.sources:
            if self.outcome.get(src, REJECTED) < outcome:
                self.outcome[src] = outcome

    def commit(self, stats: dict) -> dict:
        """Close the manifests, write ``shard.json`` and move the shard into place; returns what
        ``shard.json`` holds."""
        for w in self.writers.values():
            w.commit()
        summary = {"stats": stats, "accounting": self._accounting()}
        (self.tmp / SHARD_JSON).write_text(json.dumps(summary), encoding="utf-8")
        shutil.rmtree(self.final, ignore_errors=True)
        os.replace(self.tmp, self.final)
        return summary

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _accounting(self) -> dict:
        """This shard's inputs, seconds summed in input order, by where they ended."""
        records = {name: 0 for name in OUTCOMES.values()}
        seconds = {name: 0.0 for name in OUTCOMES.values()}
        for src, outcome in self.outcome.items():
            records[OUTCOMES[outcome]] += 1
            seconds[OUTCOMES[outcome]] += self.source_seconds[src]
        input_seconds = 0.0
        for s in self.source_seconds.values():
            input_seconds += s
        records["rejected"] += self.repeats
        seconds["rejected"] += self.repeat_seconds
        input_seconds += self.repeat_seconds
        return {"input_records": len(self.source_seconds) + self.repeats,
                "input_seconds": input_seconds,
                "records": records, "seconds": seconds,
                "rows": {k: w.count for k, w in self.writers.items()},
                "row_seconds": dict(self.row_seconds), "reasons": dict(self.reasons)}


def finished_shard(out_dir: Path, index: int) -> dict | None:
    """What a finished shard's ``shard.json`` holds, or None when the shard is not finished."""
    try:
        return json.loads((shard_dir(out_dir, index) / SHARD_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RunOutput:
    """The main process's side: adds up the shards' accounting and joins their manifests."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir)
        self.totals: dict = {"input_records": 0, "input_seconds": 0.0,
                             "records": {name: 0 for name in OUTCOMES.values()},
                             "seconds": {name: 0.0 for name in OUTCOMES.values()},
                             "rows": {k: 0 for k in KINDS}, "row_seconds": {k: 0.0 for k in KINDS},
                             "reasons": {}}
        self.writers: dict[str, ManifestWriter] = {}

    def add(self, accounting: dict) -> None:
        """One shard's accounting, in shard order."""
        t = self.totals
        t["input_records"] += accounting["input_records"]
        t["input_seconds"] += accounting["input_seconds"]
        for key in ("records", "seconds", "rows", "row_seconds", "reasons"):
            for name, value in accounting[key].items():
                t[key][name] = t[key].get(name, 0) + value

    def join(self, shards: int) -> None:
        """The run's manifests from its ``shards`` finished shards, all moved into place together,
        or none; the shards are removed once the run is recorded (see :meth:`clear_shards`)."""
        self.writers = {kind: ManifestWriter(self.dir / file_name(kind)) for kind in KINDS}
        done = []
        try:
            for w in self.writers.values():
                w.open()
            for index in range(shards):
                folder = shard_dir(self.dir, index)
                for kind, w in self.writers.items():
                    with open(folder / file_name(kind), "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            w.write_bytes(block)
            for w in self.writers.values():
                w.commit()
                done.append(w.path)
        except BaseException:
            for w in self.writers.values():
                w.abort()
            for path in done:
                path.unlink(missing_ok=True)
            raise

    def clear_shards(self) -> None:
        shutil.rmtree(self.dir / SHARDS, ignore_errors=True)

    def files(self) -> dict:
        """What run.json records of each manifest, so readers can tell it is the one written."""
        return {w.path.name: {"rows": self.totals["rows"][kind], "sha256": w.sha256}
                for kind, w in self.writers.items()}

    def accounting(self) -> dict:
        """Input records and hours split by where they ended; balanced by construction."""
        t, h = self.totals, 3600.0
        return {
            "input_records": t["input_records"],
            "input_hours": round(t["input_seconds"] / h, 6),
            "records": dict(t["records"]),
            "hours": {k: round(v / h, 6) for k, v in t["seconds"].items()},
            "rows": dict(t["rows"]),
            "row_hours": {k: round(v / h, 6) for k, v in t["row_seconds"].items()},
            "rejected_reasons": dict(sorted(t["reasons"].items())),
        }
