"""sample: a seeded subset of the input, by hours or by record count, optionally stratified.

For data-scale experiments (6 h, 10 h, 20 h, 50 h, 100 h) the subsets must be comparable: the same
seed gives the same subset, and a smaller subset is contained in a larger one, so that a gain
from 10 h to 20 h comes from the extra data and not from a different draw. Both follow from one
construction: the input records are put in a seeded order (a hash of seed and id per record, so
the order of a record does not depend on which other records exist), and a subset is always a
prefix of that order. With ``stratify=FIELD`` the order interleaves the field's values so that
every prefix keeps each value's share of the input (by hours, or by count for ``records``).

The selection is made on the input records, before any audio is read: put ``sample`` first in
the pipeline. Records derived later (``utt7#c0``, merged windows) follow their source record.
"""
from __future__ import annotations

import hashlib
import heapq
from typing import Any, Iterable, Iterator

from curate.stage import Context, Item, Param, ParamError, Stage
from manifests import Record


class Sample(Stage):
    name = "sample"
    summary = "keep a seeded subset of hours=H or records=N (nested across sizes), stratifiable"
    params = {
        "hours": Param("float", None, "keep this many hours of input (the largest prefix of the "
                                      "seeded order that fits)"),
        "records": Param("int", None, "keep this many input records instead"),
        "stratify": Param("str", None, "a record field (e.g. speaker, batch) whose values keep "
                                       "their share of the input in the subset"),
    }
    needs_audio = False
    chosen: set[str] | None = None  # ids of the input records in the subset, set by prepare()

    def validate(self) -> None:
        if (self.hours is None) == (self.records is None):
            raise ParamError("sample: give exactly one of sample.hours=H or sample.records=N")
        if (self.hours is not None and self.hours <= 0) or (self.records is not None
                                                            and self.records <= 0):
            raise ParamError("sample: hours and records must be > 0")

    def prepare(self, records: Iterable[Record], ctx: Context) -> None:
        """Choose the subset once, from the input records and the run seed."""
        inputs = [(r.id, r.duration, _field(r, self.stratify)) for r in records]
        order = seeded_order(inputs, ctx.seed, by_hours=self.hours is not None,
                             stratified=self.stratify is not None)
        self.chosen = set(take_prefix(order, self.hours, self.records))

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        if self.chosen is None:
            raise RuntimeError("sample: prepare() must see the input records before the run")
        for item in items:
            # the input records it holds: itself, the parts of a window, the source of a chunk
            if not self.chosen.intersection(item.sources or (item.record.id,)):
                item.reject(self.name, "not_sampled")
            yield item


def _field(rec: Record, name: str | None) -> Any:
    if name is None:
        return None
    value = rec.get(name)
    return repr(value) if isinstance(value, (list, dict)) else value


def sort_key(seed: int, record_id: str) -> bytes:
    """A record's place in the seeded order: independent of the other records."""
    return hashlib.blake2b(f"{seed}\0sample\0{record_id}".encode(), digest_size=8).digest()


def seeded_order(inputs: list[tuple[str, float, Any]], seed: int, *, by_hours: bool,
                 stratified: bool) -> list[tuple[str, float]]:
    """All input records as (id, duration), in the seeded order whose prefixes are the subsets."""
    ranked = sorted(inputs, key=lambda r: (sort_key(seed, r[0]), r[0]))
    if not stratified:
        return [(rid, dur) for rid, dur, _ in ranked]
    strata: dict[Any, list[tuple[str, float]]] = {}
    for rid, dur, value in ranked:
        strata.setdefault(value, []).append((rid, dur))
    size = {v: (sum(d for _, d in recs) if by_hours else len(recs)) or 1.0
            for v, recs in strata.items()}
    # Next record always from the stratum furthest behind its share: every prefix stays balanced.
    heap = [(0.0, repr(v), v, 0) for v in strata]
    heapq.heapify(heap)
    order = []
    while heap:
        taken, name, value, i = heapq.heappop(heap)
        rid, dur = strata[value][i]
        order.append((rid, dur))
        if i + 1 < len(strata[value]):
            taken += (dur if by_hours else 1) / size[value]
            heapq.heappush(heap, (taken, name, value, i + 1))
    return order


def take_prefix(order: list[tuple[str, float]], hours: float | None,
                records: int | None) -> list[str]:
    """The longest prefix of ``order`` within ``hours`` (or the first ``records``)."""
    if records is not None:
        return [rid for rid, _ in order[:records]]
    budget, total, out = hours * 3600.0, 0.0, []
    for rid, dur in order:
        if total + dur > budget + 1e-6:
            break
        total += dur
        out.append(rid)
    return out
