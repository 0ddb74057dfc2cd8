"""Where a clip holds speech, and how loud that speech is.

An SNR is only meaningful against the speech: measured over the whole clip, silence included, a
half-silent clip reads ~3 dB quieter than its speech is, and noise mixed at that SNR ends up ~3 dB
weaker than asked. The level here is the mean power over the speech-active samples: the vad
stage's intervals when it ran, else an energy gate in the manner of ITU-T P.56 (frames count as
active when they lie above a threshold set 15.9 dB under the level of the active frames, and stay
active 0.2 s after, so the dips between syllables count as speech).
"""
from __future__ import annotations

import numpy as np

from manifests.audio import TARGET_SR as SR

FRAME = 480            # 30 ms at 16 kHz, the vad frame
P56_MARGIN_DB = 15.9   # P.56: active frames lie within this margin of the active level
FLOOR_DB = -70.0       # frames quieter than this are never speech, whatever the gate says
HANGOVER_FRAMES = 7    # P.56 holds activity 0.2 s after the envelope drops (7 frames of 30 ms)


def intervals_mask(n: int, intervals) -> np.ndarray:
    """A per-sample boolean mask, True inside ``[[start, end], ...]`` (seconds)."""
    mask = np.zeros(n, dtype=bool)
    for start, end in intervals:
        mask[max(0, round(start * SR)):min(n, round(end * SR))] = True
    return mask


def frame_power_db(audio: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Mean power per whole frame, in dB relative to full scale (-inf for digital silence)."""
    n = len(audio) // frame
    frames = audio[:n * frame].astype(np.float64).reshape(n, frame)
    power = (frames ** 2).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(power)


def gate_mask(audio: np.ndarray) -> np.ndarray:
    """Speech-active samples found by energy alone (for clips the vad stage did not see)."""
    db = frame_power_db(audio)
    mask = np.zeros(len(audio), dtype=bool)
    audible = db > FLOOR_DB
    if not audible.any():
        return mask
    power = 10 ** (db / 10)
    top = float(db[audible].max())
    active = _hold(db > top - P56_MARGIN_DB, HANGOVER_FRAMES)
    # Lower the threshold until the active frames' level sits 15.9 dB above it (P.56).
    for c in np.arange(top - P56_MARGIN_DB - 0.5, FLOOR_DB - 0.5, -0.5):
        candidate = _hold(db > c, HANGOVER_FRAMES)
        if 10 * np.log10(power[candidate].mean()) - c > P56_MARGIN_DB:
            break
        active = candidate
    mask[:len(db) * FRAME] = np.repeat(active, FRAME)
    return mask


def _hold(flags: np.ndarray, frames: int) -> np.ndarray:
    """Keep each active frame active for ``frames`` more (the decay after a syllable)."""
    out = flags.copy()
    for k in range(1, min(frames, len(flags) - 1) + 1):
        out[k:] |= flags[:-k]
    return out


def speech_mask(audio: np.ndarray, speech=None) -> np.ndarray:
    """Speech-active samples: the given intervals (from vad) if any, else the energy gate."""
    if speech:
        mask = intervals_mask(len(audio), speech)
        if mask.any():
            return mask
    return gate_mask(audio)


def mean_power(audio: np.ndarray, mask: np.ndarray) -> float:
    """Mean power of the masked samples (0.0 when the mask is empty)."""
    if not mask.any():
        return 0.0
    sel = audio[mask]
    # float32 dot (BLAS): no squared copy; its rounding is far below the 0.1 dB SNR steps
    return float(np.dot(sel, sel)) / sel.size
