"""chunk30: cut records longer than the Whisper encoder's 30 s window into windows that fit.

A labelled record is cut only where its transcript can be cut too: at the boundaries of its
sentence timestamps (``segments``), each window's text being its sentences' texts joined. Without
timestamps there is no honest way to split the transcript, so the record is rejected
(``long_without_timestamps``) rather than giving every window the whole text or a guessed share —
unless ``align`` names a local Qwen3-ASR forced aligner: the transcript is then aligned to the audio
word by word and cut at sentence punctuation or, inside a sentence longer than ``max``, at the
longest pauses between words; each window takes exactly the characters aligned inside it (a
word's punctuation stays with it), so the windows' texts spell the transcript once (less the
whitespace at a cut). Neighbouring windows meet midway into the pause between their words. An
alignment the model is unsure of is rejected (``alignment_low_confidence``), never used as a
guess; so are audio longer than the aligner can time (``too_long_to_align``, 400 s for the real
one) and a transcript without a word to align (``nothing_to_align``).
An unlabelled record is cut at the speech pause (``record.speech`` from vad) nearest the limit,
else at the quietest moment before it.

Windows are slices of the source (``utt7#c0``, ``utt7#c1``, ...): no sample changes, so each keeps
pointing into the source file with its own offset and duration.
"""
from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import numpy as np

from curate.checks.speech_level import FRAME, frame_power_db
from curate.stage import SR, Context, Item, Param, ParamError, Stage

from .joiner import AUTO, JOINER_HELP, join_texts


class Chunk30(Stage):
    name = "chunk30"
    summary = "cut records over max seconds into windows at sentence boundaries or speech pauses"
    rewrites_text = True
    params: ClassVar[dict[str, Param]] = {
        "max": Param("float", 30.0, "longest window in seconds (Whisper's encoder sees 30 s)"),
        "min": Param("float", 1.0, "windows shorter than this are rejected as too_short"),
        "pad": Param("float", 0.2, "seconds kept around a window's outer sentences when the "
                                   "neighbouring sentence is farther away"),
        "joiner": Param("str", AUTO, JOINER_HELP),
        "align": Param("str", "", "folder of a local Qwen3-ASR forced aligner (e.g. "
                                  "Qwen3-ForcedAligner-0.6B-hf): labelled records without "
                                  "sentence timestamps are aligned word by word and cut instead of "
                                  "rejected (needs the 'train' extra); empty: off"),
        # The model's softmax probability of the time it gives each word boundary, averaged over
        # the boundaries of the record and of each window; a boundary the monotonic fix had to
        # move counts 0. Below 0.5 the model puts less than half its belief on the 80 ms bin it
        # names for the typical boundary: the cut and the text split would be guesses. Not yet
        # measured on the real checkpoint: the lineage's align_confidence shows what a corpus gets.
        "align_min_conf": Param("float", 0.5, "a record's or window's alignment whose mean "
                                              "timestamp probability (a timestamp out of time "
                                              "order counts 0) is below this is rejected "
                                              "alignment_low_confidence (0..1)"),
    }

    def validate(self) -> None:
        if self.max <= 0 or self.min < 0 or self.pad < 0:
            raise ParamError("chunk30: max must be > 0, min and pad >= 0")
        if 2 * self.min > self.max:
            raise ParamError(f"chunk30.min ({self.min:g}) must be at most half of max "
                             f"({self.max:g}) so that every cut leaves room on both sides")
        if not 0.0 <= self.align_min_conf <= 1.0:
            raise ParamError(f"chunk30.align_min_conf must be in 0..1, got {self.align_min_conf:g}")
        if self.align:
            path = Path(self.align)
            if not path.exists():
                raise ParamError(f"chunk30.align: aligner folder {self.align} does not exist")
            if not path.is_dir():
                raise ParamError(f"chunk30.align: {self.align} is not a folder (give the folder "
                                 "holding the aligner's config.json and weights)")
            if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers")):
                raise ParamError("chunk30.align needs torch and transformers: "
                                 "pip install 'curate[train]'")

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
            if self.align:
                yield from self._by_alignment(item)
            else:
                yield item.reject(self.name, "long_without_timestamps")
            return
        if not all(isinstance(s.get("text"), str) and s["text"].strip() for s in segs):
            yield item.reject(self.name, "segments_without_text")
            return
        if not all(0.0 <= s["start"] < s["end"] <= item.duration + 0.01 for s in segs) or any(
                b["start"] < a["end"] - 1e-6 for a, b in pairwise(segs)):
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

    # --- labelled without timestamps: forced alignment ---

    def _by_alignment(self, item: Item) -> Iterator[Item]:
        # Here, not at the top: torch and transformers are the 'train' extra.
        from train_adapter.aligner import AlignerError, load_aligner

        rid = item.record.id
        aligner = load_aligner(self.align)
        try:
            alignment = aligner.align(item.audio, item.record.text)
        except AlignerError as e:
            if e.reason is None:   # not a property of this record (a broken checkpoint)
                raise AlignerError(f"{rid}: {e}") from e
            item.record.extra["error"] = f"{rid}: {e}"
            yield item.reject(self.name, e.reason)
            return
        conf = round(alignment.confidence, 3)
        if alignment.confidence < self.align_min_conf:
            item.record.extra["error"] = (
                f"{rid}: alignment confidence {alignment.confidence:.3f} < "
                f"align_min_conf {self.align_min_conf:g} ({alignment.moved:.0%} of the timestamps "
                "out of order)")
            item.record.lineage.append(self.lineage(cut_by="alignment", align_confidence=conf))
            yield item.reject(self.name, "alignment_low_confidence")
            return
        text = item.record.text
        windows = cuts_from_alignment(alignment.words, text, item.duration, self.max, self.min)
        # The windows tile the transcript: nothing copied, nothing dropped.
        assert "".join(text[a:b] for _, _, a, b in windows) == text, rid
        words = alignment.words
        for k, (start, end, a, b) in enumerate(windows):
            piece = item.slice(start, end, f"{rid}#c{k}")
            piece.record.text = text[a:b].strip()  # the whitespace at a cut goes with the cut
            piece.record.hyp = None  # a whole-recording hyp cannot be split honestly
            inside = [w.confidence for w in words if a <= w.char_start < b]
            wconf = sum(inside) / len(inside)
            if wconf < self.align_min_conf:
                piece.reject(self.name, "alignment_low_confidence")
            yield self._finish(piece, item, k, by="alignment", align_confidence=conf,
                               window_confidence=round(wconf, 3))

    # --- unlabelled: speech pauses ---

    def _by_pauses(self, item: Item) -> Iterator[Item]:
        cuts = pause_cuts(item.audio, item.record.speech, item.duration, self.max, self.min)
        bounds = [0.0, *cuts, item.duration]
        for k, (start, end) in enumerate(pairwise(bounds)):
            piece = item.slice(start, end, f"{item.record.id}#c{k}")
            piece.record.hyp = None  # a whole-recording hyp would be copied into every window
            if item.record.speech is not None and not piece.record.speech:
                piece.reject(self.name, "no_speech")
            yield self._finish(piece, item, k, by="pauses")

    def _finish(self, piece: Item, parent: Item, k: int, by: str, **drawn) -> Item:
        start = piece.record.offset - parent.record.offset
        piece.record.lineage.append(self.lineage(
            parent=parent.record.id, index=k, cut_by=by,
            start=round(start, 3), end=round(start + piece.duration, 3), **drawn))
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


# A word whose trailing characters hold one of these ends a sentence (a cut is preferred there).
SENTENCE_END = frozenset("。！？!?.;；…")
_TAIL = re.compile(r"\W*$")  # what follows a word's last letter or digit


def cuts_from_alignment(words: Sequence, text: str, duration: float, limit: float,
                        min_len: float) -> list[tuple[float, float, int, int]]:
    """Windows ``(start_s, end_s, char_start, char_end)`` for aligned ``words``.

    ``words`` carry ``start``, ``end`` (seconds, non-decreasing) and ``char_start``, ``char_end``
    (spans that tile ``text``: a word's punctuation and the spaces after it are its own). The text
    is cut after words that end a sentence, the sentences packed by :func:`pack_segments` into the
    fewest windows <= ``limit``; a sentence longer than ``limit`` is first split at its longest
    pauses (leaving ``min_len`` either side where it can). A cut between two windows lies midway
    into the pause between the last word of one and the first of the next, on the sample grid, so
    neighbouring windows neither overlap nor leave a gap; the first window starts at 0 and the last
    ends at ``duration`` unless that would take it past ``limit``, then the silence beyond its
    words is shortened. A window is longer than ``limit`` only when one word is (the caller rejects
    it). The windows' text spans tile ``text``.
    """
    if not words:
        return []
    n = len(words)
    sentences, first = [], 0
    for j, w in enumerate(words):
        if j == n - 1 or any(c in SENTENCE_END
                             for c in _TAIL.search(text[w.char_start:w.char_end]).group()):
            sentences.append((first, j))
            first = j + 1
    pieces = [p for i, j in sentences for p in _split_at_pauses(words, i, j, limit, min_len)]
    groups = pack_segments([(words[i].start, words[j].end) for i, j in pieces], limit)
    ranges = [(pieces[a][0], pieces[b][1]) for a, b in groups]
    total, room = round(duration * SR), math.floor(limit * SR)
    cuts = [math.floor((words[j].end + words[j + 1].start) / 2 * SR)
            for _, j in ranges[:-1]]
    bounds = [0, *cuts, total]
    out = []
    for k, (i, j) in enumerate(ranges):
        lo, hi = bounds[k], bounds[k + 1]
        if hi - lo > room:
            s = min(max(math.floor(words[i].start * SR), lo), hi)
            e = min(max(math.ceil(words[j].end * SR), s), hi)
            spare = max(0, room - (e - s))
            # Share the silence that fits between both sides; what one side lacks, the other takes.
            lead = min(s - lo, spare // 2)
            trail = min(hi - e, spare - lead)
            lead = min(s - lo, spare - trail)
            lo, hi = s - lead, e + trail
        out.append((lo / SR, hi / SR, words[i].char_start, words[j].char_end))
    return out


def _split_at_pauses(words: Sequence, i: int, j: int, limit: float,
                     min_len: float) -> list[tuple[int, int]]:
    """Words ``i..j`` (a sentence) as consecutive ranges each spanning <= ``limit``, cut at the
    longest pause first; among equal pauses the one nearest the middle."""
    if i == j or words[j].end - words[i].start <= limit + 1e-6:
        return [(i, j)]
    middle = (words[i].start + words[j].end) / 2

    def key(k: int):
        return (round(words[k + 1].start - words[k].end, 3),
                -abs((words[k].end + words[k + 1].start) / 2 - middle))

    gaps = range(i, j)
    roomy = [k for k in gaps if words[k].end - words[i].start >= min_len
             and words[j].end - words[k + 1].start >= min_len]
    k = max(roomy or gaps, key=key)
    return (_split_at_pauses(words, i, k, limit, min_len)
            + _split_at_pauses(words, k + 1, j, limit, min_len))
