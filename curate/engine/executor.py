"""The executor: runs the stages over shards of consecutive records, in parallel, into a run dir.

The input is cut into shards of about ``SHARD_SECONDS`` of audio, fixed by the input alone (and,
where a stage groups records by a field, cut only where its value changes: see ``shards``). A
worker process runs the whole pipeline over one shard, as a chain of generators (datatrove-style):
audio is decoded once per record, lazily, before the first stage that needs it; it flows through
the stages in memory and is written once, as FLAC, by the worker, only if a stage changed it. The
worker writes the shard's manifests and accounting into the run folder (output.ShardOutput),
renamed into place last; only its statistics go back to the main process, which keeps no
per-record state and joins the finished shards' manifests, in order, at the end. A rerun of an
interrupted job reuses every finished shard. A stage that looks across records (merge30) sees
consecutive records within a shard: windows never span two shards, which costs at most one
part-filled window per shard, and nothing where the stage groups by a field
(``Stage.groups_by``): a shard then ends where a group does. Because shards do not depend on the
number of workers and every random draw is seeded per record, the output is the same for any
``--workers``, and a resumed run's output is byte-identical to an uninterrupted one.
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from manifests import Record
from manifests.audio import AudioError, load

from ..stage import SR, Context, Item, Stage
from .output import AudioStore, RunOutput, ShardOutput, finished_shard, worker_thread

SILENCE_PEAK = 1e-4  # -80 dBFS: below this the file holds no usable signal
ENGINES = ("local", "ray")
SHARD_SECONDS = 1800.0  # input audio per shard, the unit of parallel work and of resuming
PARENT_POLL = 0.5  # seconds between a worker's checks that the main process is still there
ERROR_CHARS = 500  # of a stage's exception message kept in its rejected record
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class StageStats:
    """Records and audio seconds in, out and dropped, and time spent, for one stage."""

    records_in: int = 0
    records_out: int = 0
    records_dropped: int = 0
    seconds_in: float = 0.0
    seconds_out: float = 0.0
    seconds_dropped: float = 0.0
    time: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    # exceptions raised when the stage held no record (its records had all come out): whatever
    # it was making then (a copy, a window) is missing, and the summary says so
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: "StageStats") -> None:
        for name in ("records_in", "records_out", "records_dropped", "seconds_in", "seconds_out",
                     "seconds_dropped", "time"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n
        for error, n in other.errors.items():
            self.errors[error] = self.errors.get(error, 0) + n

    def count_in(self, seconds: float) -> None:
        self.records_in += 1
        self.seconds_in += seconds

    def to_json(self) -> dict:
        """Every field as it is (seconds, not rounded hours), for a shard's record."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def as_dict(self) -> dict:
        h = 3600.0
        return {"records_in": self.records_in, "records_out": self.records_out,
                "records_dropped": self.records_dropped,
                "hours_in": round(self.seconds_in / h, 6), "hours_out": round(self.seconds_out / h, 6),
                "hours_dropped": round(self.seconds_dropped / h, 6),
                "seconds": round(self.time, 3), "reasons": dict(sorted(self.reasons.items())),
                "errors": dict(sorted(self.errors.items()))}


def shards(items: Iterable[Item], seconds: float,
           group_by: tuple[str, ...] = ()) -> Iterator[tuple[list[Item], float]]:
    """Consecutive input items grouped into shards of at least ``seconds`` of audio (the last may
    be shorter), each with the seconds of all its rows; items already rejected (repeated ids)
    ride along with their neighbours without counting.

    ``group_by`` names the record fields the stages group by (``Stage.groups_by``): a shard
    that has its seconds is cut only before a record whose value differs, in every one of those
    fields, from the last record's, so a run of equal values is never split and one longer than
    ``seconds`` makes one larger shard. The cuts depend on the input (and the job's stages)
    alone, as resuming needs."""
    shard: list[Item] = []
    total = rows = 0.0
    last: tuple | None = None  # the group values of the shard's last record that counts
    for it in items:
        if not it.rejected:
            key = tuple(it.record.get(f) for f in group_by)
            # the cut waits for the record after the one that filled the shard: only then is it
            # known whether the two share a group
            if total >= seconds and last is not None and all(a != b for a, b in zip(last, key)):
                yield shard, rows
                shard, total, rows = [], 0.0, 0.0
            last = key
            total += it.duration
        shard.append(it)
        rows += it.duration
    if shard:
        yield shard, rows


# --- work done inside worker processes (or inline with one worker) ---

_W: dict = {}


def _start_worker(stages: list[Stage], ctx: Context, out_dir) -> None:
    """A pool worker's initializer."""
    _end_with_parent()
    _init_worker(stages, ctx, out_dir)


def _init_worker(stages: list[Stage], ctx: Context, out_dir) -> None:
    _W.update(stages=stages, ctx=ctx, out_dir=out_dir, audio=AudioStore(out_dir))
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _end_with_parent() -> None:
    """End this worker when the process that started it ends, however it ends (SIGKILL too):
    a pool worker otherwise waits on its task queue forever. Linux kills it at once
    (PR_SET_PDEATHSIG); elsewhere, or should that be unavailable, a thread sees the parent go."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:  # an orphan is handed to another process
        time.sleep(PARENT_POLL)
    os._exit(1)


def _load(rec: Record):
    """The record's audio, checked, or the reason it is rejected (run on the decode thread, so
    the checks' passes over the samples overlap the stages)."""
    try:
        audio = load(rec.audio, rec.offset, rec.duration)
    except AudioError as e:
        return e.reason
    lo, hi = float(audio.min()), float(audio.max())  # a NaN anywhere makes them NaN
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "corrupt_audio"
    if max(hi, -lo) < SILENCE_PEAK:
        return "silent_audio"
    return audio


def _decode(item: Item, stats: StageStats, loading) -> None:
    """Take ``item``'s audio from ``loading`` (a Future of :func:`_load`, on the decode thread);
    the time counted is what the stages waited for it."""
    t0 = time.perf_counter()
    rec = item.record
    audio = loading.result()
    if isinstance(audio, str):
        item.reject("decode", audio)
    else:
        item.audio = audio
        # The header duration can differ from the decoded length by a few samples.
        rec.duration = len(audio) / SR
    stats.time += time.perf_counter() - t0
    stats.count_in(rec.duration)
    _count_out(item, stats)


def _count_out(it: Item, stats: StageStats) -> None:
    if it.rejected:
        stats.records_dropped += 1
        stats.seconds_dropped += it.duration
        stats.reasons[it.rejected] = stats.reasons.get(it.rejected, 0) + 1
    else:
        stats.records_out += 1
        stats.seconds_out += it.duration


READ_AHEAD = 4   # records decoded ahead of the stages, on the decode thread


def _decoded(stream: Iterator[Item], stats: dict, rejected: list[Item]) -> Iterator[Item]:
    """Decode items that have no audio yet; set aside those that fail. The next READ_AHEAD
    records are read on a thread of the worker (the decoders and the resampler release the GIL)
    while the stages work on this one; the items come out in their order, as without it."""
    decoder = worker_thread("decode")
    decode = stats.setdefault("decode", StageStats())
    window: deque = deque()

    def finish(it: Item, loading) -> Iterator[Item]:
        if loading is not None:
            _decode(it, decode, loading)
            if it.rejected:
                rejected.append(it)
                return
        yield it

    for it in stream:
        window.append((it, decoder.submit(_load, it.record) if it.audio is None else None))
        if len(window) > READ_AHEAD:
            yield from finish(*window.popleft())
    while window:
        yield from finish(*window.popleft())


def _staged(key: str, stage: Stage, upstream: Iterator[Item], ctx: Context, stats: dict,
            rejected: list[Item]) -> Iterator[Item]:
    """Run one stage on a stream: count records and seconds, time the stage alone (not the work
    upstream of it), set rejected items aside, keep track of the inputs each output holds, and
    hold the stage to its contract.

    Every record fed in must come back out: yielded (rejected or not), or named by what is
    yielded (see _account). One the stage neither yields nor names is rejected ``lost_by_stage``
    when the stage's stream ends, so no record leaves the run unaccounted for.

    An exception from the stage ends its generator and whatever it held. The records it held,
    fed and not yet come out (for a record-by-record stage the record it was working on; for a
    buffering stage such as merge30 its window and the record that made it emit, since which of
    them broke it cannot be known), are rejected ``stage_error:<Type>`` with the message, and
    the stage starts again on the rest of the input. A stage that raises before taking a record
    (it would raise on any input), and an exception from upstream, end the run.
    """
    st = stats.setdefault(key, StageStats())
    waited = 0.0
    held: dict[int, Item] = {}  # fed and not yet come out, in feeding order, by object
    named: dict[str, int] = {}  # the id each held item was fed under → its key in ``held``
    last: Item | None = None
    taken = 0  # records fed since the stage's generator (re)started
    upstream_failed = False

    def feed():
        nonlocal waited, last, taken, upstream_failed
        while True:
            t0 = time.perf_counter()
            try:
                it = next(upstream, None)
            except BaseException:
                upstream_failed = True
                raise
            finally:
                waited += time.perf_counter() - t0
            if it is None:
                return
            st.count_in(it.duration)
            held[id(it)] = last = it
            named[it.record.id] = id(it)
            taken += 1
            yield it

    def release(key: int | None) -> bool:
        item = held.pop(key, None) if key is not None else None
        if item is not None:
            named.pop(item.record.id, None)
        return item is not None

    def set_aside(it: Item) -> None:
        _count_out(it, st)
        it.audio = None  # a shard may reject much; keep only its records
        rejected.append(it)

    gen = stage(feed(), ctx)
    while True:
        t0, w0 = time.perf_counter(), waited
        try:
            it = next(gen)
        except StopIteration:
            break
        except Exception as e:
            if upstream_failed or not taken:
                raise
            reason, message = f"stage_error:{type(e).__name__}", str(e)[:ERROR_CHARS]
            if not held:
                st.errors[reason] = st.errors.get(reason, 0) + 1
            for h in held.values():
                h.record.extra["error"] = message
                set_aside(h.reject(stage.name, reason))
            held.clear()
            named.clear()
            taken = 0
            gen = stage(feed(), ctx)
            continue
        finally:
            st.time += time.perf_counter() - t0 - (waited - w0)
        # What the output accounts for: itself, when it is an item that was fed in; the items it
        # was made from (Item.slice, Item.merge); else, built by hand, the last record fed.
        came_out = release(id(it) if id(it) in held else None)
        for parent in it.parents:
            came_out = release(named.get(parent)) or came_out
        if not (came_out or it.parents or it.sources) and last is not None:
            it.sources = last.sources
            release(id(last) if id(last) in held else None)
        if it.rejected:
            set_aside(it)
        else:
            _count_out(it, st)
            yield it
    for h in held.values():
        set_aside(h.reject(stage.name, "lost_by_stage"))


def _run_shard(index: int, items: list[Item]) -> dict:
    """The whole pipeline over one shard, written into the run folder as a finished shard;
    returns what its ``shard.json`` holds (statistics and accounting, no records)."""
    stages, ctx, audio = _W["stages"], _W["ctx"], _W["audio"]
    out = ShardOutput(_W["out_dir"], index)
    out.open()
    try:
        stats: dict[str, StageStats] = {}
        rejected: list[Item] = []

        inputs = stats.setdefault("input", StageStats())  # every row; repeated ids dropped

        def fresh() -> Iterator[Item]:
            # New items, made as the stages ask for them: nothing outside the stream holds one, so
            # the audio of a record merged into a window is freed with the window.
            for it in items:
                inputs.count_in(it.duration)
                _count_out(it, inputs)
                if it.rejected:
                    out.count_repeat(it.record)  # a repeated id, set aside before the stages
                    out.write(it)
                else:
                    out.count_input(it.record)
                    yield Item(it.record, None, sources=it.sources)

        stream: Iterator[Item] = fresh()
        for i, stage in enumerate(stages):
            if stage.needs_audio:
                stream = _decoded(stream, stats, rejected)
            stream = _staged(f"{i}:{stage.name}", stage, stream, ctx, stats, rejected)
        kept: list[Item] = []
        ids: set[str] = set()
        write = stats.setdefault("write", StageStats())
        for it in stream:
            write.count_in(it.duration)
            if it.record.id in ids:
                # a second output under one id (a copy named like another record): it would
                # overwrite the first one's audio and make the manifest's ids ambiguous
                _count_out(it.reject("write", "duplicate_id"), write)
                it.audio = None
                rejected.append(it)
                continue
            ids.add(it.record.id)
            t0 = time.perf_counter()
            audio.store(it)
            write.time += time.perf_counter() - t0
            _count_out(it, write)
            it.audio = None
            kept.append(it)
        t0 = time.perf_counter()
        audio.flush()   # the shard is finished only once its audio is on disk
        write.time += time.perf_counter() - t0
        for it in rejected + kept:
            out.write(it)
        return out.commit({key: st.to_json() for key, st in stats.items()})
    except BaseException:
        try:
            audio.flush()   # nothing may still be writing into the run once the shard is given up
        except BaseException:  # noqa: BLE001 - the first error is the one raised
            pass
        out.abort()
        raise


# --- the driver ---

class Pipeline:
    """Runs ``stages`` over ``records`` into the run folder ``out_dir``, shard by shard; collects
    per-stage statistics and the accounting. Finished shards already in the folder are reused."""

    def __init__(self, stages: list[Stage], out_dir, *, seed: int = 0, workers: int = 1,
                 on_progress: Callable[[float], None] | None = None,
                 on_total: Callable[[float], None] | None = None,
                 shard_seconds: float = SHARD_SECONDS, engine: str = "local") -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.engine = engine
        self.stages = stages
        self.out_dir = out_dir
        self.output = RunOutput(out_dir)
        self.ctx = Context(seed=seed)
        self.workers = max(1, workers)
        self.on_progress = on_progress or (lambda seconds: None)
        self.on_total = on_total or (lambda seconds: None)
        self.shard_seconds = shard_seconds
        self.stats: dict[str, StageStats] = {}
        self.shards = {"total": 0, "reused": 0, "computed": 0}

    def prepare(self, records: Callable[[], Iterable[Record]]) -> None:
        """The stages' pre-passes over the input, before any audio is read."""
        for stage in self.stages:
            if type(stage).prepare is not Stage.prepare:
                stage.prepare(records(), self.ctx)

    def scan(self, records: Iterable[Record], folders: set[str] | None = None) -> set[int]:
        """The pass over the input before the run: returns the hashes of repeated ids, for
        :meth:`run`, and gives the seconds to do to ``on_total``; ``folders``, when given, gets
        the folders the input's audio lies in."""
        repeated, total = _scan(records, folders)
        self.on_total(total)
        return repeated

    def run(self, records: Callable[[], Iterable[Record]], repeated: set[int]) -> None:
        """Run the (prepared) stages over the input, then join the shards' manifests;
        ``repeated``: what :meth:`scan` returned."""
        group_by = tuple(dict.fromkeys(f for s in self.stages if (f := s.groups_by())))
        setup = (self.stages, self.ctx, self.out_dir)
        if self.engine == "ray":
            pool = RayShards(setup, self.workers)
        elif self.workers > 1:
            pool = ProcessPoolExecutor(self.workers, initializer=_start_worker, initargs=setup)
        else:
            pool = None
            _init_worker(*setup)
        try:
            window = 2 * self.workers  # shards in flight: neither inputs nor results pile up
            pending: deque[tuple[float, Future | dict, bool]] = deque()  # in shard order
            for index, (shard, seconds) in enumerate(
                    shards(_unique(records(), repeated), self.shard_seconds, group_by)):
                done = finished_shard(self.out_dir, index)
                if done is not None:
                    pending.append((seconds, done, True))
                elif pool is None:
                    pending.append((seconds, _run_shard(index, shard), False))
                else:
                    pending.append((seconds, pool.submit(_run_shard, index, shard), False))
                while pending and (len(pending) > window
                                   or not isinstance(pending[0][1], Future)):
                    self._finish(*pending.popleft())
            while pending:
                self._finish(*pending.popleft())
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self.output.join(self.shards["total"])

    def _finish(self, seconds: float, result: Future | dict, reused: bool) -> None:
        summary = result.result() if isinstance(result, Future) else result
        for key, raw in summary["stats"].items():
            self.stats.setdefault(key, StageStats()).add(StageStats(**raw))
        self.output.add(summary["accounting"])
        self.shards["total"] += 1
        self.shards["reused" if reused else "computed"] += 1
        self.on_progress(seconds)


class RayShards:
    """One Ray task per shard, with the executor's submit/shutdown: the same shard function
    writes into the same run folder, which every node must see. With ``RAY_ADDRESS`` set (``auto``
    on a cluster node) curate joins that cluster; otherwise it starts a single-node Ray with
    ``workers`` CPUs and shuts it down at the end."""

    def __init__(self, setup: tuple, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("--engine ray needs Ray: pip install 'curate[ray]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            address = os.environ.get("RAY_ADDRESS")
            options = dict(include_dashboard=False, log_to_driver=False,
                           logging_level="WARNING")
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=workers, **options)
        self._setup = ray.put(setup)
        self._task = ray.remote(num_cpus=1, max_retries=0)(_ray_shard)

    def submit(self, fn, index: int, shard: list[Item]) -> Future:
        return self._task.remote(self._setup, index, shard).future()

    def shutdown(self, cancel_futures: bool = False) -> None:
        if self._started:
            self._ray.shutdown()


def _ray_shard(setup: tuple, index: int, shard: list[Item]) -> dict:
    """A shard in a Ray worker (a process that may run many tasks, of several runs)."""
    _init_worker(*setup)
    return _run_shard(index, shard)


def _scan(records: Iterable[Record], folders: set[str] | None) -> tuple[set[int], float]:
    """The 64-bit hashes of ids that occur more than once, and the input's seconds (every row, for
    the progress total); into ``folders`` (if given) the folders of its audio. 8 bytes a record
    while reading, so the main process need not keep every id to set repeats aside."""
    total = 0.0

    def hashes() -> Iterator[int]:
        nonlocal total
        for r in records:
            total += r.duration
            if folders is not None:
                folders.add(os.path.dirname(r.audio))
            yield _id_hash(r.id)

    ids = np.fromiter(hashes(), dtype=np.uint64)
    ids.sort()  # in place: np.unique's copies and counts took the main process to 390 MB at 10 M
    repeats = ids[1:][ids[1:] == ids[:-1]]
    return set(repeats.tolist()), total


def _id_hash(rid: str) -> int:
    return int.from_bytes(hashlib.blake2b(rid.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "little")


def _unique(records: Iterable[Record], repeated: set[int]) -> Iterator[Item]:
    """Every input record as an item; a second record under an id already seen is set aside
    (only ids whose hash repeats are remembered)."""
    seen: set[str] = set()
    for rec in records:
        if repeated and _id_hash(rec.id) in repeated:
            if rec.id in seen:
                yield Item(rec, None).reject("input", "duplicate_id")
                continue
            seen.add(rec.id)
        yield Item(rec, None, sources=(rec.id,))


def _stage_order(key: str) -> tuple:
    """input and decode first, then the stages in pipeline order ("3:noise"), write last."""
    if key == "input":
        return (0, 0)
    if key == "decode":
        return (0, 1)
    if key == "write":
        return (2, 0)
    return (1, int(key.split(":", 1)[0]))


def run_pipeline(records: Callable[[], Iterable[Record]], stages: list[Stage], out_dir,
                 *, seed: int = 0, workers: int = 1, source: str = "",
                 fingerprint: str = "", on_progress: Callable[[float], None] | None = None,
                 on_total: Callable[[float], None] | None = None, problems=None,
                 shard_seconds: float = SHARD_SECONDS,
                 resume: bool = True, engine: str = "local",
                 describe: Callable[[object], str] = str,
                 prepare_records: Callable[[], Iterable[Record]] | None = None) -> dict:
    """Run ``stages`` over ``records()`` into ``out_dir``; returns what ``run.json`` holds.

    ``records`` is a factory: the run reads the input twice (repeated ids, the seconds to do,
    given to ``on_total``, and the folders of its audio, which the run folder must not hold, as
    clearing it would delete them; then the run itself); stages with a pre-pass read it once more
    before.
    ``on_progress`` is given each finished shard's seconds; they add up to ``on_total``'s.
    ``problems`` (a manifests.Problems the factory fills) lists unreadable input lines in run.json.
    The folder is locked for the run (see lifecycle.lock) and cleared only once the stages'
    pre-passes have succeeded; it records the job it holds (input, stages, seed, shard size, code
    version). ``describe`` turns an input problem into run.json's text (the command masks personal
    data in it). With ``resume``, the finished shards of an interrupted run of the same job are
    reused; the output is the same bytes either way.

    ``prepare_records`` (a factory like ``records``) is what the stages' pre-passes read instead
    of ``records``: for running part of a dataset with statistics of the whole of it (``curate qc``
    checks a run's unchecked records against the speaking-rate band of all of them). With
    ``resume``, ``fingerprint`` should then name both inputs: shards are reused by the job alone.
    """
    from pathlib import Path

    from . import lifecycle

    out_dir = Path(out_dir)
    with lifecycle.lock(out_dir):
        pipe = Pipeline(stages, out_dir, seed=seed, workers=workers, on_progress=on_progress,
                        on_total=on_total, shard_seconds=shard_seconds, engine=engine)
        t0 = time.perf_counter()
        pipe.prepare(prepare_records or records)
        # Clearing a folder that holds anything could delete the input's audio, so then the scan
        # collects the folders it lies in (only then: a folder a record makes millions of names).
        folders = set() if any(p.name != lifecycle.LOCK for p in out_dir.iterdir()) else None
        repeated = pipe.scan(records(), folders)
        lifecycle.check_audio_outside(out_dir, folders or ())
        lifecycle.prepare(out_dir, lifecycle.job_of(fingerprint, stages, seed, shard_seconds),
                        resume=resume)
        pipe.run(records, repeated)
        info = {
            "status": "complete",
            "source": source,
            "input_fingerprint": fingerprint,
            "seed": seed,
            "engine": engine,
            "workers": pipe.workers,
            "shard_seconds": shard_seconds,
            "shards": pipe.shards,
            "stages": [{"name": s.name, "params": s.json_values()} for s in stages],
            "versions": lifecycle.versions(),
            "wall_seconds": round(time.perf_counter() - t0, 3),
            # the input's row only where it set repeated ids aside: else it is decode's again
            "per_stage": {k: pipe.stats[k].as_dict() for k in sorted(pipe.stats, key=_stage_order)
                          if k != "input" or pipe.stats[k].records_dropped},
            "accounting": pipe.output.accounting(),
            "files": pipe.output.files(),
            "input_problems": [describe(p) for p in problems or ()],
        }
        lifecycle.write_run_json(out_dir, info)
        pipe.output.clear_shards()
    return info
