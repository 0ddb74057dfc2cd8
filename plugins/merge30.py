"""merge30: pack consecutive short records into windows of up to 30 s.

Whisper's encoder always sees 30 s; a 3 s command is 90 % padding. Packing consecutive records (in
source order, so neighbouring context stays together) with ``gap`` seconds of silence between them
fills the window. Transcripts are joined without inventing spaces in Mandarin (see joiner.py), and
``parts`` records where each part sits in the merged audio so it can be traced or cut back out.

Labelled and unlabelled records are never mixed (a window would carry a transcript for only part
of its audio), nor are records of different splits (train audio must not leak into eval windows,
nor sensitive eval-only audio into training); ``group_by`` keeps windows within one value of any
field, e.g. one speaker. A record that has no neighbour to pack with passes through untouched.
Only the window being filled is held in memory. The executor hands each worker a block of about
30 minutes of consecutive input, so windows do not span two blocks (at most one part-filled window
per block). With ``group_by`` the stage says so (``Stage.groups_by``), and blocks are cut only
where that field's value changes: a group's records are packed the same whatever the block size.
Groups are runs of consecutive records: the input is not sorted, so records of one speaker apart
in it are packed apart (sort the manifest by the field first to pack each speaker together).
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np

from curate.stage import SR, Context, Item, Param, ParamError, Stage
from manifests import Record

from .joiner import AUTO, JOINER_HELP, join_texts

MAX_ID_PARTS = 3  # longer groups get an abbreviated id with a hash, so ids stay short


class Merge30(Stage):
    name = "merge30"
    summary = "pack consecutive short records into windows of up to max seconds"
    rewrites_text = True
    params = {
        "max": Param("float", 30.0, "longest merged window in seconds, gaps included"),
        "gap": Param("float", 1.0, "seconds of silence between two packed records"),
        "joiner": Param("str", AUTO, JOINER_HELP),
        "group_by": Param("str", None, "a record field (e.g. speaker, batch, or one of your own "
                                       "fields); a window only packs records sharing its value"),
    }

    def validate(self) -> None:
        if self.max <= 0 or self.gap < 0:
            raise ParamError(f"merge30: max must be > 0 and gap >= 0 (got max={self.max:g}, "
                             f"gap={self.gap:g})")

    def groups_by(self) -> str | None:
        return self.group_by

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        limit, gap = int(round(self.max * SR)), int(round(self.gap * SR))
        window: list[Item] = []
        length, key = 0, None
        for item in items:
            n = len(item.audio)
            if window and (self._key(item) != key or length + gap + n > limit):
                yield self._emit(window)
                window = []
            if n > limit:  # too long to pack with anything (chunk30 did not run before)
                yield item
                continue
            if window:
                length += gap + n
            else:
                length, key = n, self._key(item)
            window.append(item)
        if window:
            yield self._emit(window)

    def _key(self, item: Item) -> tuple:
        rec = item.record
        return rec.labelled, rec.split, self._group_value(rec)

    def _group_value(self, rec: Record) -> Any:
        return None if self.group_by is None else rec.get(self.group_by)

    def _emit(self, window: list[Item]) -> Item:
        if len(window) == 1:
            return window[0]
        recs = [it.record for it in window]
        gap = np.zeros(int(round(self.gap * SR)), dtype=np.float32)
        chunks, parts, speech, segments = [], [], [], []
        pos = 0
        for i, it in enumerate(window):
            if i:
                chunks.append(gap)
                pos += len(gap)
            start = pos / SR
            chunks.append(it.audio)
            pos += len(it.audio)
            parts.append({"id": it.record.id, "start": round(start, 6), "end": round(pos / SR, 6)})
            speech += [[round(s + start, 3), round(e + start, 3)]
                       for s, e in it.record.speech or []]
            segments += [{**s, "start": round(s["start"] + start, 3),
                          "end": round(s["end"] + start, 3)} for s in it.record.segments or []]
        audio = np.concatenate(chunks).astype(np.float32, copy=False)
        hyps = [r.hyp for r in recs]
        tags: list[str] = []
        for r in recs:
            tags += [t for t in r.tags if t not in tags]
        extra = {k: v for k, v in recs[0].extra.items()
                 if k != "parts" and all(r.extra.get(k, _MISSING) == v for r in recs[1:])}
        extra["parts"] = parts
        rec = Record(
            id=merged_id([r.id for r in recs]),
            audio="",  # the executor writes the merged audio and points the record at it
            duration=len(audio) / SR,
            text=join_texts((r.text for r in recs), self.joiner),
            # A hyp for only some parts would look like a hyp for the whole window.
            hyp=join_texts(hyps, self.joiner) if all(h is not None for h in hyps) else None,
            speaker=_common(r.speaker for r in recs),
            batch=_common(r.batch for r in recs),
            segments=segments if all(r.segments is not None for r in recs) else None,
            speech=speech if all(r.speech is not None for r in recs) else None,
            sample_rate=SR, channels=1, tags=tags, split=recs[0].split,
            lineage=[self.lineage(parts=[{"id": r.id, "lineage": r.lineage} for r in recs])],
            extra=extra,
        )
        return Item.merge(window, rec, audio)


_MISSING = object()


def _common(values) -> Any:
    values = list(values)
    return values[0] if all(v == values[0] for v in values) else None


def merged_id(ids: list[str]) -> str:
    """``merge:a+b`` for a few parts; ``merge:a+…+z~<hash>`` beyond, unique over all the ids."""
    if len(ids) <= MAX_ID_PARTS:
        return "merge:" + "+".join(ids)
    digest = hashlib.blake2b("\0".join(ids).encode(), digest_size=4).hexdigest()
    return f"merge:{ids[0]}+…+{ids[-1]}~{digest}"
