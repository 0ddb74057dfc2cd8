"""vad: find speech, trim leading and trailing non-speech, reject clips without speech.

Frames are classified as speech or not (webrtcvad on 30 ms frames, or Silero's speech probability
on 32 ms frames); a webrtcvad frame stays speech only if it carries sustained energy above the
background (webrtcvad takes faint clicks for speech, and holds its flag past the speech's end).
The frames are smoothed: pauses shorter than ``hangover`` are bridged, and bursts shorter than
``min_speech`` (door slams) are dropped, but for a short last syllable close to the speech.
The outer edges are then held to the recording's own noise floor (over an audible background
webrtcvad calls seconds of it speech) and, for webrtcvad, never reach past a pause to a burst
with no clear speech in it (a drum hit, a breath), the end never closer than a word's weak end
to the clear speech, and the first and last speech grow over adjacent hiss (an unvoiced /s/ or /x/
ending or starting the clip, which neither detector calls speech); over a loud background
Silero's last speech also ends a little later (its probability falls before a word's end has).
The record is trimmed to the first and last speech, ``pad`` seconds either side, as a slice of
its source: trimming does not change samples, so the record keeps pointing at its source file
with a new offset and duration. The speech intervals go to ``record.speech`` (relative to the
trimmed start) for later stages (chunk30 cuts at pauses, noise measures SNR over speech).
"""
from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Iterator
from itertools import pairwise, repeat
from typing import ClassVar, NamedTuple

import numpy as np

from curate.stage import SR, Context, Item, Param, ParamError, Stage

WEBRTC_FRAME = 480    # 30 ms, one of the frame lengths webrtcvad accepts at 16 kHz
SILERO_FRAME = 512    # the window the Silero v5+ model takes at 16 kHz
# Silero speech-probability threshold for each aggressiveness (0.5 is Silero's own default).
SILERO_THRESHOLD = {0: 0.3, 1: 0.4, 2: 0.5, 3: 0.6}
SILERO_RELEASE = 0.15   # speech ends below threshold - this (silero-vad's own neg_threshold)
# Over a loud background Silero's probability falls before a word's weak end has: it ended
# speech up to 0.26 s early over music. The last end grows by this much there: two of its
# frames, with the pad enough on the tune clips; it keeps 64 ms more over cabin noise too.
SILERO_WORD_END_S = 0.064

# Energy check on the detector's frames. webrtcvad calls faint clicks (-52 to -61 dBFS in real
# recordings) speech and holds its flag a few frames after speech ends; neither carries sustained
# speech energy. A frame's level is the median of its quarter-frames' levels, so a click filling
# one quarter does not lift it; the frame counts as speech only when that level lies
# FLOOR_MARGIN_DB above the background (the quietest FLOOR_PERCENTILE % of the frames the detector
# calls non-speech, or of all frames when it leaves fewer than MIN_BACKGROUND_FRAMES) and within
# SPEECH_RANGE_DB of the clip's loud speech (the 90th percentile of the detector's frames).
SUBFRAMES = 4
FLOOR_PERCENTILE = 10
MIN_BACKGROUND_FRAMES = 10
FLOOR_MARGIN_DB = 6.0
SPEECH_RANGE_DB = 40.0
# The background criterion holds only over a quiet background: when the loud speech stands less
# than QUIET_BACKGROUND_DB over it (cabin noise), quiet syllables lie within FLOOR_MARGIN_DB of the
# noise and would be cut, while a faint click is drowned anyway.
QUIET_BACKGROUND_DB = 30.0
# Unvoiced fricatives (/s/, /sh/, /x/, /f/) at a word's edge carry energy but no voicing: the
# detectors miss them. The first and last speech grow, up to EXTEND_S, over adjacent frames whose
# level above FRICATIVE_HZ stands FRICATIVE_MARGIN_DB over that band's floor, and at least as far
# as the band below stands over its own floor: low-frequency rumble (an engine, a road) lifts the
# band below the most and never grows the edges, while a hiss under cabin noise still does.
EXTEND_S = 0.3
FRICATIVE_HZ = 2500
FRICATIVE_MARGIN_DB = 10.0
# Edges against the noise floor. Over an audible background (cabin noise, a room's tone, a noisy
# line: speech less than QUIET_BACKGROUND_DB over it) webrtcvad can call the whole recording
# speech, clicks and all, and the background check is off there. So each outer edge is anchored
# on the outermost stretch of at least EDGE_CORE_S where some band from EDGE_BANDS_HZ stands
# EDGE_MARGIN_DB over that band's floor (its 10th-percentile frame: measured per band, a car's
# rumble does not mask speech in the bands above it; nothing under 400 Hz counts, where rumble
# and hum live). The detector's speech may reach past that stretch by up to EDGE_HANGOVER_S (a
# word's weak end, which can sit within a few dB of cabin noise), or further where that speech
# looks like quiet syllables (see _telling: cabin noise's own frames seldom stand 10 dB over the
# floor, and webrtcvad flags noise either all through or in scattered frames that the hangover
# joins up, not in a syllable rhythm); otherwise it is taking the background for speech, and the
# edge goes back to the stretch, grown over at most EDGE_GROW_S of frames still EDGE_LOW_DB over
# the floor. Chosen on the `tune` clips of bench/vad_edges.py, the demo corpus and the cases in
# tests/test_stage_vad.py.
EDGE_BANDS_HZ = (400, 1000, 2000, 4000)  # lower band edges; the last band runs to SR / 2
EDGE_MARGIN_DB = 9.0
EDGE_LOW_DB = 6.0
EDGE_CORE_S = 0.12
EDGE_HANGOVER_S = 0.4
EDGE_GROW_S = 0.15
EDGE_SYLLABLES = 0.1
EDGE_SYLLABLE_DB = 12.0
EDGE_RHYTHM = (0.25, 0.9)
EDGE_CONTRAST_DB = 3.0
# A pulled-in end keeps EDGE_WORD_END_S of the detector's speech beyond the clear stretch
# whatever its level (then grows as above, to EDGE_GROW_S in all). Over music (sustained tonal
# energy: every band's floor is the music, as loud as a word's weak end) the last syllable's
# decay sits within a few dB of the floor, no louder than the music's own swings, and level
# cannot tell it; the anchoring cut up to 0.31 s there before the pad. The guard and the pad
# cover a weak end up to 0.3 s past the clear stretch; over cabin noise it keeps at most 0.1 s
# more. (Frame to frame, the bands of the music alone swing as much as those of the word's end
# under it at 5 dB, so spectral flux would not tell them apart either.) Ends only: a word
# starts with an onset, and no tune clip lost its start past the pad.
EDGE_WORD_END_S = 0.1
# A short burst this many hangovers or less after the speech is kept (see smooth).
EDGE_BURST_GAP = 1.5
# SEPARATE (webrtcvad): the edges never reach over speech it flags beyond a pause of a hangover
# or more from the clear speech, unless that holds clear speech itself, but for that short final
# burst. What webrtcvad flags there, over an audible background, is a drum hit, a breath or a
# click, one at a time: under the bench's music bed it flagged each beat's drum for 0.12 s, and
# the edges reached over seconds of music from one to the next (each looked like a quiet
# syllable). Silero does not flag such sounds, and what it flags beyond a pause is mostly quiet
# speech: with the rule it cut 10 more of the bench's held-out files, so it is webrtcvad's only.

_silero_model = None  # loaded once per process, on first use


class Vad(Stage):
    name = "vad"
    summary = "trim leading/trailing non-speech, reject clips without speech (webrtcvad or silero)"
    params: ClassVar[dict[str, Param]] = {
        "backend": Param("str", "webrtc", "speech detector: 'webrtc' (webrtcvad) or 'silero' "
                                          "(silero-vad, needs the 'silero' extra)",
                         choices=("webrtc", "silero")),
        "aggressiveness": Param("int", 2, "0 (keeps most) to 3 (strictest about what is speech); "
                                          "webrtcvad's mode, or Silero threshold 0.3/0.4/0.5/0.6",
                                choices=(0, 1, 2, 3)),
        "pad": Param("float", 0.2, "seconds of audio kept before the first and after the last "
                                   "speech"),
        "hangover": Param("float", 0.3, "pauses shorter than this (seconds) count as speech"),
        "min_speech": Param("float", 0.1, "speech bursts shorter than this (seconds) are ignored, "
                                          "but for a last one within 1.5 x hangover after the "
                                          "speech"),
    }

    def validate(self) -> None:
        for name in ("pad", "hangover", "min_speech"):
            if self.values[name] < 0:
                raise ParamError(f"vad.{name} must be >= 0, got {self.values[name]}")
        if self.backend == "silero" and importlib.util.find_spec("silero_vad") is None:
            raise ParamError("vad.backend=silero needs the silero-vad package: "
                             "pip install 'curate[silero]'")

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        for item in items:
            speech = self.detect(item.audio)
            if not speech:
                yield item.reject(self.name, "no_speech")
                continue
            start, end = speech[0][0] - self.pad, speech[-1][1] + self.pad
            if item.record.segments:
                # Never trim into a labelled sentence: its text would no longer match the audio.
                start = min(start, min(s["start"] for s in item.record.segments))
                end = max(end, max(s["end"] for s in item.record.segments))
            start, end = max(0.0, start), min(item.duration, end)
            item.record.speech = speech
            n = len(item.audio)
            if round(start * SR) > 0 or round(end * SR) < n:
                item = item.slice(start, end)
            item.record.lineage.append(self.lineage(trim=[round(start, 3), round(end, 3)]))
            yield item

    def detect(self, audio: np.ndarray) -> list[list[float]]:
        """Smoothed speech intervals ``[[start, end], ...]`` in seconds from the clip's start."""
        if self.backend == "silero":
            flags, frame = _silero_flags(audio, SILERO_THRESHOLD[self.aggressiveness])
        else:
            flags, frame = _webrtc_flags(audio, self.aggressiveness)
        levels = subframe_levels(audio, len(flags), frame)
        sustained, calm = energetic(levels.total, flags)
        # The energy check answers webrtcvad's errors (clicks, its hold past the end). Silero
        # takes neither for speech, and the check cut confident frames of its quiet word ends.
        speech = flags & sustained if self.backend == "webrtc" else flags
        runs = smooth(speech, frame / SR, self.hangover, self.min_speech)
        runs = anchor_edges(runs, speech, above_floor(levels.bands), frame / SR,
                            (self.hangover, self.min_speech) if self.backend == "webrtc" else None)
        runs = extend_edges(runs, fricative(levels.low, levels.high), frame / SR)
        if runs and not calm and self.backend == "silero":
            # Silero's probability falls while a word's weak end is still sinking into a loud
            # background (music, a cabin): the last speech ends SILERO_WORD_END_S later. webrtcvad
            # holds its flag past the end by itself (see anchor_edges for its own guard).
            runs[-1][1] = round(min(len(flags) * frame / SR, runs[-1][1] + SILERO_WORD_END_S), 3)
        return runs


def smooth(flags: np.ndarray, frame_s: float, hangover: float,
           min_speech: float) -> list[list[float]]:
    """Per-frame speech flags → intervals: bridge short pauses, then drop short bursts."""
    padded = np.concatenate(([False], np.asarray(flags, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    runs = [[s * frame_s, e * frame_s] for s, e in zip(edges[::2], edges[1::2])]
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < hangover - 1e-9:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    # A short burst just after the speech, within EDGE_BURST_GAP hangovers of it, is a final
    # syllable after a pause, not a door slam: Silero over music flagged a clip's last word for
    # 96 ms, 0.35 s after the speech before it, and dropping it cut 0.6 s. Bursts before the
    # speech or inside it, and isolated ones further off, are still dropped (a word's start is
    # an onset, and no tune clip lost one).
    keep = [e - s >= min_speech - 1e-9 for s, e in merged]
    if True in keep:
        last = len(keep) - 1 - keep[::-1].index(True)
        if last + 1 < len(keep) and merged[last + 1][0] - merged[last][1] < (
                EDGE_BURST_GAP * hangover + 1e-9):
            keep[last + 1] = True
    return [[round(float(s), 3), round(float(e), 3)] for (s, e), k in zip(merged, keep) if k]


class Levels(NamedTuple):
    """Per frame, the median over its quarter-frames of their power (dB; -inf for digital
    silence): a click filling one quarter does not lift it."""
    total: np.ndarray  # the whole band
    low: np.ndarray    # under FRICATIVE_HZ
    high: np.ndarray   # from FRICATIVE_HZ up
    bands: np.ndarray  # n x 4: from each of EDGE_BANDS_HZ to the next (the last to SR / 2)


# Quarter-frames per FFT: a block's spectra stay in cache. A clip's at once took 8x the clip's
# bytes, and a quarter of the levels' time.
LEVEL_BLOCK = 1024


def subframe_levels(audio: np.ndarray, n: int, frame: int) -> Levels:
    """The levels of the first ``n`` frames of ``frame`` samples."""
    sub = frame // SUBFRAMES
    pick = _band_pick(sub)
    if not n:
        return Levels(*(np.zeros(0),) * 3, np.zeros((0, len(EDGE_BANDS_HZ))))
    parts = audio[:n * frame].reshape(n, frame)[:, :sub * SUBFRAMES].reshape(n * SUBFRAMES, sub)
    quarters = np.empty((len(parts), pick.shape[1]))
    for i in range(0, len(parts), LEVEL_BLOCK):
        spectra = np.fft.rfft(parts[i:i + LEVEL_BLOCK].astype(np.float64), axis=1)
        quarters[i:i + LEVEL_BLOCK] = (spectra.real ** 2 + spectra.imag ** 2) @ pick
    quarters = quarters.reshape(n, SUBFRAMES, pick.shape[1])
    # The median of the four quarters (SUBFRAMES): the mean of the middle two.
    middle = (quarters.sum(axis=1) - quarters.max(axis=1) - quarters.min(axis=1)) / 2
    with np.errstate(divide="ignore"):
        levels = 10 * np.log10(middle)
    return Levels(levels[:, 0], levels[:, 1], levels[:, 2], levels[:, 3:])


@functools.cache
def _band_pick(sub: int) -> np.ndarray:
    """One FFT serves all the levels: pick[k, j] = 1 where bin k of a ``sub``-sample spectrum
    counts towards level j (total, low, high, then EDGE_BANDS_HZ)."""
    bins = sub // 2 + 1
    pick = np.zeros((bins, 3 + len(EDGE_BANDS_HZ)))
    cut = int(np.ceil(FRICATIVE_HZ * sub / SR))
    pick[:, 0], pick[:cut, 1], pick[cut:, 2] = 1, 1, 1
    starts = [int(np.ceil(hz * sub / SR)) for hz in EDGE_BANDS_HZ] + [bins]
    for j, (lo, hi) in enumerate(pairwise(starts)):
        pick[lo:hi, 3 + j] = 1
    pick.flags.writeable = False
    return pick


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (its linear method, equal but for the last bits of rounding)
    by a partial sort: the VAD takes a dozen percentiles of every clip, and np.percentile's own
    overhead was a quarter of its time."""
    rank = (values.size - 1) * q / 100
    lo = int(rank)
    hi = min(lo + 1, values.size - 1)
    part = np.partition(values, (lo, hi))
    a, b, t = float(part[lo]), float(part[hi]), rank - lo
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _floor(db: np.ndarray) -> float | None:
    audible = db[np.isfinite(db)]
    return percentile(audible, FLOOR_PERCENTILE) if audible.size else None


def energetic(total: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, bool]:
    """Frames carrying sustained speech energy (see SPEECH_RANGE_DB), and whether the background
    is quiet (the loud speech stands QUIET_BACKGROUND_DB over it)."""
    voiced = flags & np.isfinite(total)
    if not voiced.any():
        return np.zeros(len(flags), dtype=bool), True
    loud = percentile(total[voiced], 90)
    threshold = loud - SPEECH_RANGE_DB
    quiet = total[~flags & np.isfinite(total)]  # digital silence is no background to measure
    floor = _floor(quiet if quiet.size >= MIN_BACKGROUND_FRAMES else total)
    calm = floor is None or loud - floor >= QUIET_BACKGROUND_DB
    if floor is not None and calm:
        threshold = max(threshold, floor + FLOOR_MARGIN_DB)
    return total > threshold, calm


def over_floor(level: np.ndarray) -> np.ndarray:
    """How far (dB) each frame stands over the floor of ``level`` (-inf where it has none)."""
    floor = _floor(level)
    return level - floor if floor is not None else np.full(len(level), -np.inf)


def fricative(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Frames holding a hiss above ``FRICATIVE_HZ`` (see EXTEND_S): that band stands
    FRICATIVE_MARGIN_DB over its floor, and at least as far as the band below stands over its
    own. Rumble and voicing lift the band below the most; measured against each band's floor, a
    hiss still shows under cabin noise, whose rumble holds most of every frame's power."""
    rise = over_floor(high)
    return (rise > FRICATIVE_MARGIN_DB) & (rise >= over_floor(low))


def above_floor(bands: np.ndarray) -> np.ndarray:
    """Per frame, how far (dB) it stands over the floor in the band where it stands highest."""
    out = np.full(len(bands), -np.inf)
    for level in bands.T:
        out = np.maximum(out, over_floor(level))
    return out


def anchor_edges(runs: list[list[float]], speech: np.ndarray, above: np.ndarray,
                 frame_s: float, separate: tuple[float, float] | None = None
                 ) -> list[list[float]]:
    """Hold the outer edges of ``runs`` to the outermost clear speech (see EDGE_MARGIN_DB);
    ``speech``: the detector's frames, ``above``: ``above_floor`` of the frames; ``separate``:
    the smoothing's (hangover, min_speech), to leave out runs beyond a pause (see SEPARATE)."""
    clear = np.concatenate(([False], speech & (above > EDGE_MARGIN_DB), [False]))
    starts_ends = np.flatnonzero(np.diff(clear.astype(np.int8)))
    core = int(np.ceil(EDGE_CORE_S / frame_s - 1e-9))
    spans = [(a, b) for a, b in zip(starts_ends[::2], starts_ends[1::2]) if b - a >= core]
    if not runs or not spans:
        return runs
    reach, grow = round(EDGE_HANGOVER_S / frame_s), round(EDGE_GROW_S / frame_s)
    low = above > EDGE_LOW_DB
    first, last = int(spans[0][0]), int(spans[-1][1])
    if separate is not None:
        runs = _joined(runs, first * frame_s, last * frame_s, *separate)
    start = min(round(runs[0][0] / frame_s), first)
    end = max(round(runs[-1][1] / frame_s), last)
    if first - start > reach and not _telling(speech[start:first], above[start:first]):
        start = first
        while first - start < grow and start > 0 and low[start - 1]:
            start -= 1
    if end - last > reach and not _telling(speech[last:end], above[last:end]):
        end = last + round(EDGE_WORD_END_S / frame_s)  # a weak word end level cannot see
        while end - last < grow and end < len(low) and low[end]:
            end += 1
    lo, hi = round(start * frame_s, 3), round(end * frame_s, 3)
    return [[max(s, lo), min(e, hi)] for s, e in runs if e > lo and s < hi]


def _joined(runs: list[list[float]], first_s: float, last_s: float, hangover: float,
            min_speech: float) -> list[list[float]]:
    """The runs from the one holding the first clear speech to the one holding the last, and a
    short final burst just after (see smooth); the others lie beyond a pause of ``hangover`` or
    more with no clear speech of their own (see SEPARATE)."""
    inner = [i for i, (s, e) in enumerate(runs) if e > first_s + 1e-9 and s < last_s - 1e-9]
    if not inner:
        return runs
    i0, i1 = inner[0], inner[-1]
    after = runs[i1 + 1] if i1 + 1 < len(runs) else None
    if after is not None and (after[0] - runs[i1][1] < EDGE_BURST_GAP * hangover + 1e-9
                              and after[1] - after[0] < min_speech - 1e-9):
        i1 += 1
    return runs[i0:i1 + 1]


def _telling(speech: np.ndarray, above: np.ndarray) -> bool:
    """Whether the detector's speech in this stretch looks like speech, not like background it
    took for speech: quiet syllables (EDGE_SYLLABLES of it EDGE_SYLLABLE_DB over the floor), or a
    syllable rhythm (it flags between EDGE_RHYTHM of the stretch, and what it flags stands
    EDGE_CONTRAST_DB over what it leaves out, by the median)."""
    flagged = int(speech.sum())
    if not flagged:
        return False
    if (speech & (above > EDGE_SYLLABLE_DB)).sum() >= EDGE_SYLLABLES * flagged:
        return True
    lo, hi = EDGE_RHYTHM
    return (lo <= flagged / len(speech) <= hi and
            float(np.median(above[speech]) - np.median(above[~speech])) >= EDGE_CONTRAST_DB)


def extend_edges(runs: list[list[float]], grow: np.ndarray,
                 frame_s: float) -> list[list[float]]:
    """Move the first start back and the last end on over up to ``EXTEND_S`` of ``grow`` frames."""
    if not runs:
        return runs
    limit = round(EXTEND_S / frame_s)
    first, last = round(runs[0][0] / frame_s), round(runs[-1][1] / frame_s)
    back = 0
    while back < limit and first - back > 0 and grow[first - back - 1]:
        back += 1
    on = 0
    while on < limit and last + on < len(grow) and grow[last + on]:
        on += 1
    runs[0][0] = round((first - back) * frame_s, 3)
    runs[-1][1] = round((last + on) * frame_s, 3)
    return runs


def _webrtc_flags(audio: np.ndarray, aggressiveness: int) -> tuple[np.ndarray, int]:
    import _webrtcvad  # webrtcvad's C extension; imported where used so module import stays light
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    pcm = np.multiply(audio, 32767, dtype=np.float32)
    np.clip(pcm, -32767, 32767, out=pcm)
    n = len(audio) // WEBRTC_FRAME
    frames = pcm[:n * WEBRTC_FRAME].astype("<i2").reshape(n, WEBRTC_FRAME)
    # A frame at a time through webrtcvad's C call itself: its Python wrapper added a sixth.
    flags = np.fromiter(map(_webrtcvad.process, repeat(vad._vad, n), repeat(SR), frames,
                            repeat(WEBRTC_FRAME)), dtype=bool, count=n)
    return flags, WEBRTC_FRAME


def _silero_flags(audio: np.ndarray, threshold: float,
                  release: float | None = None) -> tuple[np.ndarray, int]:
    """Silero's speech frames: speech starts where its probability passes ``threshold`` and lasts
    while it stays over ``release`` (default ``threshold - SILERO_RELEASE``), the hysteresis of
    silero-vad's own ``get_speech_timestamps``: over music or noise the probability sags inside a
    word, and one threshold cut the ends of sentences (up to 640 ms on a broadcast clip)."""
    global _silero_model
    import torch

    if _silero_model is None:
        torch.set_num_threads(1)  # stages run one per worker process; threads would oversubscribe
        with warnings.catch_warnings():  # silero-vad's loader uses deprecated torch/importlib APIs
            warnings.simplefilter("ignore", DeprecationWarning)
            from silero_vad import load_silero_vad
            _silero_model = load_silero_vad()
    n = len(audio) // SILERO_FRAME * SILERO_FRAME
    if n == 0:
        return np.zeros(0, dtype=bool), SILERO_FRAME
    with torch.no_grad():
        probs = _silero_model.audio_forward(torch.from_numpy(audio[:n].copy()), SR)[0].numpy()
    low = max(threshold - SILERO_RELEASE, 0.01) if release is None else release
    flags = probs > threshold
    for i in range(1, len(probs)):   # a frame after speech stays speech while over ``low``
        if not flags[i] and flags[i - 1] and probs[i] > low:
            flags[i] = True
    return flags, SILERO_FRAME
