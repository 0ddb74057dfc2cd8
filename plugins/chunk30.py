"""chunk30: cut records longer than the Whisper encoder's 30 s window into windows that fit.

A labelled record is cut only where its transcript can be cut too: at the boundaries of its
sentence timestamps (``segments``), each window's text being its sentences' texts joined. Without
timestamps there is no honest way to split the transcript, so the record is rejected
(``long_without_timestamps``) rather than giving every window the whole text or a guessed share.
An unlabelled record is cut at the speech pause (``record.speech`` from vad) nearest the limit,
else at the quietest moment before it.

Windows are slices of the source (``utt7#c0``, ``utt7#c1``, ...): no sample changes, so each keeps
pointing into the source file with its own offset and duration.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from curate.checks.speech_level import FRAME, frame_power_db
from curate.stage import SR, Context, Item, Param, ParamError, Stage

from .joiner import AUTO, JOINER_HELP, join_texts


class Chunk30(Stage):
    name = "chunk30"
    summary = "cut records over max seconds into windows at sentence boundaries or speech pauses"
    rewrites_text = True
    params = {
        "max": Param("float", 30.0, "longest window in seconds (Whisper's encoder sees 30 s)"),
        "min": Param("float", 1.0, "windows shorter than this are rejected as too_short"),
        "pad": Param("float", 0.2, "seconds kept around a window's outer sentences when the "
                                   "neighbouring sentence is farther away"),
        "joiner": Param("str", AUTO, JOINER_HELP),
    }

    def validate(self) -> None:
        if self.max <= 0 or self.min < 0 or self.pad < 0:
            raise ParamError("chunk30: max must be > 0, min and pad >= 0")
        if 2 * self.min > self.max:
            raise ParamError(f"chunk30.min ({self.min:g}) must be at most half of max "
                             f"({self.max:g}) so that every cut leaves room on both sides")

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        for item in items:
            if item.duration <= self.max + 1e-6:
                yield item
            elif item.record.labelled:
                yield from self._by_segments(item)
            else:
                yield from self._by_pauses(item)

    # --- labelled: sentence boundaries ---

    def _by_segments(self, item: Item) -> Iterator[Item]:
        segs = sorted(item.record.segments or [], key=lambda s: (s["start"], s["end"]))
        if not segs:
            yield item.reject(self.name, "long_without_timestamps")
            return
        if not all(isinstance(s.get("text"), str) and s["text"].strip() for s in segs):
            yield item.reject(self.name, "segments_without_text")
            return
        if not all(0.0 <= s["start"] < s["end"] <= item.duration + 0.01 for s in segs) or any(
                b["start"] < a["end"] - 1e-6 for a, b in zip(segs, segs[1:])):
            # A sentence outside the audio, or nested in or overlapping another: some text would
            # land in a window without its speech, and some speech in no window.
            yield item.reject(self.name, "bad_segments")
            return
        groups = pack_segments([(s["start"], s["end"]) for s in segs], self.max)
        for k, (i, j) in enumerate(groups):
            lo = segs[i - 1]["end"] if i > 0 else 0.0
            hi = segs[j + 1]["start"] if j + 1 < len(segs) else item.duration
            first, last = segs[i]["start"], segs[j]["end"]
            # Extend into the neighbouring silence, at most half-way to the next sentence.
            lead = min(self.pad, (first - lo) / (2 if i > 0 else 1))
            trail = min(self.pad, (hi - last) / (2 if j + 1 < len(segs) else 1))
            spare = max(0.0, self.max - (last - first) - 2 / SR)  # room for sample rounding
            lead, trail = min(lead, spare / 2), min(trail, spare / 2)
            piece = item.slice(first - max(0.0, lead), last + max(0.0, trail),
                               f"{item.record.id}#c{k}")
            part = segs[i:j + 1]
            piece.record.text = join_texts((s["text"] for s in part), self.joiner)
            hyps = [s.get("hyp") for s in part]
            # A hyp covering the whole recording cannot be split honestly either.
            piece.record.hyp = (join_texts(hyps, self.joiner)
                                if all(isinstance(h, str) for h in hyps) else None)
            yield self._finish(piece, item, k, by="segments")

    # --- unlabelled: speech pauses ---

    def _by_pauses(self, item: Item) -> Iterator[Item]:
        cuts = pause_cuts(item.audio, item.record.speech, item.duration, self.max, self.min)
        bounds = [0.0, *cuts, item.duration]
        for k, (start, end) in enumerate(zip(bounds, bounds[1:])):
            piece = item.slice(start, end, f"{item.record.id}#c{k}")
            piece.record.hyp = None  # a whole-recording hyp would be copied into every window
            if item.record.speech is not None and not piece.record.speech:
                piece.reject(self.name, "no_speech")
            yield self._finish(piece, item, k, by="pauses")

    def _finish(self, piece: Item, parent: Item, k: int, by: str) -> Item:
        start = piece.record.offset - parent.record.offset
        piece.record.lineage.append(self.lineage(
            parent=parent.record.id, index=k, cut_by=by,
            start=round(start, 3), end=round(start + piece.duration, 3)))
        if not piece.rejected:
            if piece.duration > self.max + 1e-6:
                piece.reject(self.name, "segment_too_long")
            elif piece.duration < self.min:
                piece.reject(self.name, "too_short")
        return piece


def pack_segments(spans: list[tuple[float, float]], limit: float) -> list[tuple[int, int]]:
    """Group consecutive sentences into as few windows as possible, each spanning <= ``limit``.

    Among the groupings with the fewest windows, the one whose shortest window is longest wins,
    so a recording is not cut into one full window and a useless sliver. A sentence longer than
    ``limit`` forms a group of its own (the caller rejects it). Returns ``(first, last)`` index
    pairs.
    """
    n = len(spans)
    # best[j] = (windows, -shortest window) for sentences [0, j); back[j] = start of last group
    best: list[tuple[int, float]] = [(0, -np.inf)] + [(n + 1, 0.0)] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            span = spans[j - 1][1] - spans[i][0]
            if span > limit + 1e-6 and i < j - 1:
                break
            windows, neg_short = best[i]
            cand = (windows + 1, max(neg_short, -span))
            if cand < best[j]:
                best[j], back[j] = cand, i
    groups, j = [], n
    while j > 0:
        groups.append((back[j], j - 1))
        j = back[j]
    return groups[::-1]


def pause_cuts(audio: np.ndarray, speech, duration: float, limit: float,
               min_len: float) -> list[float]:
    """Cut points (seconds) so that every piece is <= ``limit`` and >= ``min_len``.

    Each cut is the middle of the speech pause nearest before the limit; with no pause in reach,
    the quietest 30 ms in the second half of the window.
    """
    pauses = [(a[1] + b[0]) / 2 for a, b in zip(speech or [], (speech or [])[1:])]
    cuts, pos = [], 0.0
    while duration - pos > limit + 1e-6:
        hi = min(pos + limit, duration - min_len)
        reach = [p for p in pauses if pos + min_len <= p <= hi]
        cut = max(reach) if reach else _quietest(audio, pos + limit / 2, hi)
        # On the sample grid, so that slicing cannot round a piece past the limit.
        pos = math.floor(cut * SR) / SR
        cuts.append(pos)
    return cuts


def _quietest(audio: np.ndarray, lo: float, hi: float) -> float:
    a, b = int(lo * SR), int(hi * SR)
    db = frame_power_db(audio[a:b], FRAME)
    if db.size == 0:
        return hi
    # Centre of the quietest frame; ties go to the latest, the one nearest the limit.
    i = db.size - 1 - int(np.argmin(db[::-1]))
    return (a + i * FRAME + FRAME // 2) / SR
