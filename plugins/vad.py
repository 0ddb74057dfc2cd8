"""vad: find speech, trim leading and trailing non-speech, reject clips without speech.

Frames are classified as speech or not (webrtcvad on 30 ms frames, or Silero's speech probability
on 32 ms frames); a frame stays speech only if it carries sustained energy above the background
(webrtcvad takes faint clicks for speech, and holds its flag past the speech's end). The frames
are smoothed: pauses shorter than ``hangover`` are bridged, and bursts shorter than
``min_speech`` (door slams) are dropped. The first and last speech then grow over adjacent hiss
(an unvoiced /s/ or /x/ ending or starting the clip, which neither detector calls speech). The
record is trimmed to the first and last speech, ``pad`` seconds either side, as a slice of its
source: trimming does not change samples, so the record keeps pointing at its source file with a
new offset and duration. The speech intervals go to ``record.speech`` (relative to the trimmed
start) for later stages (chunk30 cuts at pauses, noise measures SNR over speech).
"""
from __future__ import annotations

import importlib.util
import warnings
from typing import Iterator

import numpy as np

from curate.stage import SR, Context, Item, Param, ParamError, Stage

WEBRTC_FRAME = 480    # 30 ms, one of the frame lengths webrtcvad accepts at 16 kHz
SILERO_FRAME = 512    # the window the Silero v5+ model takes at 16 kHz
# Silero speech-probability threshold for each aggressiveness (0.5 is Silero's own default).
SILERO_THRESHOLD = {0: 0.3, 1: 0.4, 2: 0.5, 3: 0.6}

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
# level above FRICATIVE_HZ stands FRICATIVE_MARGIN_DB over that band's background and holds most
# of the frame's power: low-frequency rumble (an engine, a road) never grows the edges.
EXTEND_S = 0.3
FRICATIVE_HZ = 2500
FRICATIVE_MARGIN_DB = 10.0

_silero_model = None  # loaded once per process, on first use


class Vad(Stage):
    name = "vad"
    summary = "trim leading/trailing non-speech, reject clips without speech (webrtcvad or silero)"
    params = {
        "backend": Param("str", "webrtc", "speech detector: 'webrtc' (webrtcvad) or 'silero' "
                                          "(silero-vad, needs the 'silero' extra)",
                         choices=("webrtc", "silero")),
        "aggressiveness": Param("int", 2, "0 (keeps most) to 3 (strictest about what is speech); "
                                          "webrtcvad's mode, or Silero threshold 0.3/0.4/0.5/0.6",
                                choices=(0, 1, 2, 3)),
        "pad": Param("float", 0.2, "seconds of audio kept before the first and after the last "
                                   "speech"),
        "hangover": Param("float", 0.3, "pauses shorter than this (seconds) count as speech"),
        "min_speech": Param("float", 0.1, "speech bursts shorter than this (seconds) are ignored"),
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
            if int(round(start * SR)) > 0 or int(round(end * SR)) < n:
                item = item.slice(start, end)
            item.record.lineage.append(self.lineage(trim=[round(start, 3), round(end, 3)]))
            yield item

    def detect(self, audio: np.ndarray) -> list[list[float]]:
        """Smoothed speech intervals ``[[start, end], ...]`` in seconds from the clip's start."""
        if self.backend == "silero":
            flags, frame = _silero_flags(audio, SILERO_THRESHOLD[self.aggressiveness])
        else:
            flags, frame = _webrtc_flags(audio, self.aggressiveness)
        total, high = subframe_levels(audio, len(flags), frame)
        runs = smooth(flags & energetic(total, flags), frame / SR, self.hangover,
                      self.min_speech)
        return extend_edges(runs, fricative(total, high), frame / SR)


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
    return [[round(float(s), 3), round(float(e), 3)] for s, e in merged
            if e - s >= min_speech - 1e-9]


def subframe_levels(audio: np.ndarray, n: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the median over its quarter-frames of their power, whole band and above
    ``FRICATIVE_HZ`` (dB; -inf for digital silence)."""
    sub = frame // SUBFRAMES
    parts = audio[:n * frame].astype(np.float64).reshape(n, frame)[:, :sub * SUBFRAMES]
    spectra = np.abs(np.fft.rfft(parts.reshape(n, SUBFRAMES, sub), axis=2)) ** 2
    cut = int(np.ceil(FRICATIVE_HZ * sub / SR))
    with np.errstate(divide="ignore"):
        total = 10 * np.log10(np.median(spectra.sum(axis=2), axis=1))
        high = 10 * np.log10(np.median(spectra[:, :, cut:].sum(axis=2), axis=1))
    return total, high


def _floor(db: np.ndarray) -> float | None:
    audible = db[np.isfinite(db)]
    return float(np.percentile(audible, FLOOR_PERCENTILE)) if audible.size else None


def energetic(total: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Frames carrying sustained speech energy (see SPEECH_RANGE_DB)."""
    voiced = flags & np.isfinite(total)
    if not voiced.any():
        return np.zeros(len(flags), dtype=bool)
    loud = float(np.percentile(total[voiced], 90))
    threshold = loud - SPEECH_RANGE_DB
    quiet = total[~flags & np.isfinite(total)]  # digital silence is no background to measure
    floor = _floor(quiet if quiet.size >= MIN_BACKGROUND_FRAMES else total)
    if floor is not None and loud - floor >= QUIET_BACKGROUND_DB:
        threshold = max(threshold, floor + FLOOR_MARGIN_DB)
    return total > threshold


def fricative(total: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Frames holding a sustained hiss above ``FRICATIVE_HZ`` (see EXTEND_S): that band stands
    out of its background and carries at least half the frame's power."""
    floor = _floor(high)
    if floor is None:
        return np.zeros(len(total), dtype=bool)
    return (high > floor + FRICATIVE_MARGIN_DB) & (high > total - 3.0)


def extend_edges(runs: list[list[float]], grow: np.ndarray,
                 frame_s: float) -> list[list[float]]:
    """Move the first start back and the last end on over up to ``EXTEND_S`` of ``grow`` frames."""
    if not runs:
        return runs
    limit = int(round(EXTEND_S / frame_s))
    first, last = int(round(runs[0][0] / frame_s)), int(round(runs[-1][1] / frame_s))
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
    import webrtcvad  # a C extension; imported where used so module import stays light

    vad = webrtcvad.Vad(aggressiveness)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    step = WEBRTC_FRAME * 2  # bytes per frame
    flags = np.array([vad.is_speech(pcm[i:i + step], SR)
                      for i in range(0, len(pcm) - step + 1, step)], dtype=bool)
    return flags, WEBRTC_FRAME


def _silero_flags(audio: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
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
        probs = _silero_model.audio_forward(torch.from_numpy(audio[:n].copy()), SR)
    return probs[0].numpy() > threshold, SILERO_FRAME
