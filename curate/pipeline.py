"""The executor: streams records through stages, in parallel, into a run directory.

Audio is decoded once per record (lazily, before the first stage that needs it), flows through the
stages in memory and is written once, as FLAC, only if a stage changed it. Consecutive ``map``
stages run together in worker processes; a ``stream`` stage (merge30) runs in the main process on
the ordered stream. Results are consumed in input order through a bounded window of in-flight
tasks, so memory stays flat and the output is the same for any number of workers.
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from manifests import Record
from manifests.audio import AudioError, load

from .run_output import RunOutput
from .stage import SR, Context, Item, Stage

SILENCE_PEAK = 1e-4  # -80 dBFS: below this the file holds no usable signal


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

    def add(self, other: "StageStats") -> None:
        for name in ("records_in", "records_out", "records_dropped", "seconds_in", "seconds_out",
                     "seconds_dropped", "time"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def as_dict(self) -> dict:
        h = 3600.0
        return {"records_in": self.records_in, "records_out": self.records_out,
                "records_dropped": self.records_dropped,
                "hours_in": round(self.seconds_in / h, 6), "hours_out": round(self.seconds_out / h, 6),
                "hours_dropped": round(self.seconds_dropped / h, 6),
                "seconds": round(self.time, 3), "reasons": dict(sorted(self.reasons.items()))}


def _segments(stages: list[Stage]) -> list[tuple[str, list[int]]]:
    """Group stage indices into runs of ``map`` stages and single ``stream`` stages.

    The pipeline always ends with a map segment, where changed audio is written.
    """
    # A stream stage first still needs a map segment before it, to read and decode the records.
    segs: list[tuple[str, list[int]]] = [("map", [])] if stages[:1] and \
        stages[0].kind == "stream" else []
    for i, st in enumerate(stages):
        if st.kind == "stream":
            segs.append(("stream", [i]))
        elif segs and segs[-1][0] == "map":
            segs[-1][1].append(i)
        else:
            segs.append(("map", [i]))
    if not segs or segs[-1][0] != "map":
        segs.append(("map", []))
    return segs


# --- work done inside worker processes (or inline with one worker) ---

_W: dict = {}


def _init_worker(stages: list[Stage], ctx: Context, output: RunOutput) -> None:
    _W.update(stages=stages, ctx=ctx, output=output)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _decode(item: Item, stats: StageStats) -> None:
    t0 = time.perf_counter()
    rec = item.record
    try:
        audio = load(rec.audio, rec.offset, rec.duration)
    except AudioError as e:
        item.reject("decode", e.reason)
    else:
        if not np.isfinite(audio).all():
            item.reject("decode", "corrupt_audio")
        elif float(np.max(np.abs(audio))) < SILENCE_PEAK:
            item.reject("decode", "silent_audio")
        else:
            item.audio = audio
            # The header duration can differ from the decoded length by a few samples.
            rec.duration = len(audio) / SR
    stats.time += time.perf_counter() - t0
    stats.records_in += 1
    if item.rejected:
        stats.records_dropped += 1
        stats.seconds_dropped += rec.duration
        stats.reasons[item.rejected] = stats.reasons.get(item.rejected, 0) + 1
    else:
        stats.records_out += 1
        stats.seconds_in += rec.duration
        stats.seconds_out += rec.duration


def _run_map(stage: Stage, items: list[Item], ctx: Context, stats: StageStats) -> list[Item]:
    stats.records_in += len(items)
    stats.seconds_in += sum(it.duration for it in items)
    t0 = time.perf_counter()
    out = list(stage(iter(items), ctx))
    stats.time += time.perf_counter() - t0
    _count_out(out, stats)
    return out


def _count_out(out: list[Item], stats: StageStats) -> None:
    for it in out:
        if it.rejected:
            stats.records_dropped += 1
            stats.seconds_dropped += it.duration
            stats.reasons[it.rejected] = stats.reasons.get(it.rejected, 0) + 1
        else:
            stats.records_out += 1
            stats.seconds_out += it.duration


def _ensure_audio(live: list[Item], done: list[Item], stats: dict) -> list[Item]:
    """Decode items that have no audio yet; move those that fail to ``done``."""
    for it in live:
        if it.audio is None:
            _decode(it, stats.setdefault("decode", StageStats()))
    done += [it for it in live if it.rejected]
    return [it for it in live if not it.rejected]


def _map_task(seg: list[int], items: list[Item], last: bool,
              audio_after: bool = False) -> tuple[list[Item], dict]:
    """Run one map segment on the items of one input record; write audio in the last segment.

    ``audio_after``: the next stage is a stream stage that needs audio; decode here, in parallel.
    """
    stages, ctx, output = _W["stages"], _W["ctx"], _W["output"]
    stats: dict[str, StageStats] = {}
    done: list[Item] = []
    live = items
    for i in seg:
        stage = stages[i]
        if stage.needs_audio:
            live = _ensure_audio(live, done, stats)
        if not live:
            break
        out = _run_map(stage, live, ctx, stats.setdefault(f"{i}:{stage.name}", StageStats()))
        inherited = tuple(s for it in live for s in it.sources)
        for it in out:
            if not it.sources:  # a stage built a fresh Item: it comes from this task's inputs
                it.sources = inherited
        done += [it for it in out if it.rejected]
        live = [it for it in out if not it.rejected]
    if audio_after:
        live = _ensure_audio(live, done, stats)
    if last:
        t0 = time.perf_counter()
        for it in live:
            output.store_audio(it)
        stats.setdefault("write", StageStats()).time += time.perf_counter() - t0
    for it in done + (live if last else []):
        it.audio = None  # nothing downstream reads it: don't ship it back to the main process
    return done + live, stats


def _first_task(seg: list[int], record: Record, last: bool,
                audio_after: bool) -> tuple[list[Item], dict]:
    return _map_task(seg, [Item(record, None, sources=(record.id,))], last, audio_after)


# --- the driver ---

def _ordered(pool, fn, args_iter: Iterable[tuple], window: int) -> Iterator:
    """Apply ``fn`` to each args tuple, in parallel when a pool is given, yielding in input order.

    At most ``window`` tasks are in flight, so neither inputs nor results pile up in memory.
    """
    if pool is None:
        for args in args_iter:
            yield fn(*args)
        return
    pending: deque = deque()
    for args in args_iter:
        pending.append(pool.submit(fn, *args))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class Pipeline:
    """Runs ``stages`` over ``records`` into ``output``; collects per-stage statistics."""

    def __init__(self, stages: list[Stage], output: RunOutput, *, seed: int = 0,
                 workers: int = 1, on_progress: Callable[[float], None] | None = None) -> None:
        self.stages = stages
        self.output = output
        self.ctx = Context(seed=seed)
        self.workers = max(1, workers)
        self.on_progress = on_progress or (lambda seconds: None)
        self.stats: dict[str, StageStats] = {}

    def _merge_stats(self, stats: dict[str, StageStats]) -> None:
        for key, s in stats.items():
            self.stats.setdefault(key, StageStats()).add(s)

    def run(self, records: Callable[[], Iterable[Record]]) -> None:
        for stage in self.stages:
            if type(stage).prepare is not Stage.prepare:
                stage.prepare(records())
        segs = _segments(self.stages)
        pool = None
        if self.workers > 1:
            pool = ProcessPoolExecutor(self.workers, initializer=_init_worker,
                                       initargs=(self.stages, self.ctx, self.output))
        else:
            _init_worker(self.stages, self.ctx, self.output)
        window = 4 * self.workers

        def audio_after(n: int) -> bool:
            return n + 1 < len(segs) and self.stages[segs[n + 1][1][0]].needs_audio

        try:
            stream = self._first(pool, segs[0][1], records(), len(segs) == 1, audio_after(0),
                                 window)
            for n, (kind, seg) in enumerate(segs[1:], 1):
                last = n == len(segs) - 1
                if kind == "stream":
                    stream = self._stream(self.stages[seg[0]], seg[0], stream)
                else:
                    stream = self._map(pool, seg, stream, last, audio_after(n), window)
            for item in stream:
                self.output.write(item)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _first(self, pool, seg, records, last, audio_after, window) -> Iterator[Item]:
        def args():
            for rec in records:
                if rec.id in self.output.outcome:  # a second record under one id: set aside
                    self.output.write(Item(rec, None).reject("input", "duplicate_id"))
                    continue
                self.output.count_input(rec)
                durations.append(rec.duration)
                yield (seg, rec, last, audio_after)

        durations: deque[float] = deque()  # input durations of the tasks in flight, in order
        for items, stats in _ordered(pool, _first_task, args(), window):
            self._merge_stats(stats)
            self.on_progress(durations.popleft())
            yield from self._divert(items)

    def _map(self, pool, seg, stream, last, audio_after, window) -> Iterator[Item]:
        args = ((seg, [it], last, audio_after) for it in stream)
        for items, stats in _ordered(pool, _map_task, args, window):
            self._merge_stats(stats)
            yield from self._divert(items)

    def _stream(self, stage: Stage, index: int, stream: Iterator[Item]) -> Iterator[Item]:
        """Run a stream stage in this process, keeping track of which inputs each output holds."""
        stats = self.stats.setdefault(f"{index}:{stage.name}", StageStats())
        sources: dict[str, tuple[str, ...]] = {}

        waited = [0.0]  # time spent pulling from upstream, not in this stage

        def feed():
            while True:
                t0 = time.perf_counter()
                it = next(stream, None)
                waited[0] += time.perf_counter() - t0
                if it is None:
                    return
                stats.records_in += 1
                stats.seconds_in += it.duration
                sources[it.record.id] = it.sources
                yield it

        gen = stage(feed(), self.ctx)
        while True:
            t0, w0 = time.perf_counter(), waited[0]
            try:
                it = next(gen)
            except StopIteration:
                break
            finally:
                stats.time += time.perf_counter() - t0 - (waited[0] - w0)
            _count_out([it], stats)
            parts = it.record.extra.get("parts")
            ids = [p["id"] for p in parts] if parts else [it.record.id]
            srcs = tuple(s for i in ids for s in sources.pop(i, ()))
            it.sources = srcs or it.sources
            yield from self._divert([it])

    def _divert(self, items: list[Item]) -> Iterator[Item]:
        for it in items:
            if it.rejected:
                self.output.write(it)
            else:
                yield it


def _stage_order(key: str) -> tuple:
    """decode first, then the stages in pipeline order ("3:noise"), write last."""
    if key == "decode":
        return (0, 0)
    if key == "write":
        return (2, 0)
    return (1, int(key.split(":", 1)[0]))


def run_pipeline(records: Callable[[], Iterable[Record]], stages: list[Stage], out_dir,
                 *, seed: int = 0, workers: int = 1, source: str = "",
                 fingerprint: str = "", on_progress: Callable[[float], None] | None = None,
                 problems=None) -> dict:
    """Run ``stages`` over ``records()`` into ``out_dir``; returns what ``run.json`` holds.

    ``records`` is a factory: stages with a pre-pass read the input once more before the run.
    ``problems`` (a manifests.Problems the factory fills) lists unreadable input lines in run.json.
    """
    from pathlib import Path

    from . import run_dir

    out_dir = Path(out_dir)
    run_dir.prepare(out_dir)
    output = RunOutput(out_dir)
    pipe = Pipeline(stages, output, seed=seed, workers=workers, on_progress=on_progress)
    t0 = time.perf_counter()
    output.open()
    try:
        pipe.run(records)
    except BaseException:
        output.abort()
        raise
    output.commit()
    info = {
        "status": "complete",
        "source": source,
        "input_fingerprint": fingerprint,
        "seed": seed,
        "workers": pipe.workers,
        "stages": [{"name": s.name, "params": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in s.values.items()}} for s in stages],
        "versions": run_dir.versions(),
        "wall_seconds": round(time.perf_counter() - t0, 3),
        "per_stage": {k: pipe.stats[k].as_dict() for k in sorted(pipe.stats, key=_stage_order)},
        "accounting": output.accounting(),
        "input_problems": [str(p) for p in problems or ()],
    }
    run_dir.write_run_json(out_dir, info)
    return info
