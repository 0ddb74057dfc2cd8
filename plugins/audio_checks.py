"""Measurements on a clip's samples (16 kHz mono float32): clipping, speech level, SNR, DC offset,
and a content fingerprint for finding the same audio under two names."""
from __future__ import annotations

import hashlib

import numpy as np

from .speech_level import FRAME, frame_power_db, mean_power, speech_mask

NOISE_PERCENTILE = 20   # frames this quiet or quieter hold the background, even in busy speech
MIN_NOISE_FRAMES = 10   # fewer non-speech frames than this (0.3 s) give no reliable noise level
SILENCE_DB = -100.0     # reported for a level or noise floor of digital silence


def clip_ratio(audio: np.ndarray, level: float = 0.99) -> float:
    """Share of samples at or beyond ``level`` of full scale."""
    if audio.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(audio) >= level)) / audio.size


def _db(power: float) -> float:
    return SILENCE_DB if power <= 0 else max(SILENCE_DB, 10 * np.log10(power))


def level_dbfs(audio: np.ndarray, speech=None, mask: np.ndarray | None = None) -> float:
    """Mean power of the speech (vad intervals, else an energy gate), in dB full scale.

    ``mask``: ``speech_mask(audio, speech)`` when the caller has it already."""
    if mask is None:
        mask = speech_mask(audio, speech)
    return _db(mean_power(audio, mask))


def snr_db(audio: np.ndarray, speech=None, mask: np.ndarray | None = None) -> float:
    """Speech-to-noise ratio estimate in dB.

    Noise is the mean power outside speech when the vad found enough of it; otherwise (a clip
    trimmed tight, or noise loud enough that the energy gate calls everything speech) the
    ``NOISE_PERCENTILE``-th percentile of 30 ms frame powers: the quieter frames between words
    and syllables hold mostly background. Speech is the mean power over the speech-active samples
    less that noise. ``mask``: ``speech_mask(audio, speech)`` when the caller has it already.
    """
    if mask is None:
        mask = speech_mask(audio, speech)
    total = mean_power(audio, mask)
    quiet = ~mask
    if speech and quiet.sum() >= MIN_NOISE_FRAMES * FRAME:
        noise = mean_power(audio, quiet)
    else:
        frames = frame_power_db(audio)
        frames = frames[np.isfinite(frames)]
        if frames.size == 0:
            return 0.0
        noise = float(10 ** (np.percentile(frames, NOISE_PERCENTILE) / 10))
    if noise <= 0:
        return -SILENCE_DB  # digital silence around the speech: as clean as it gets
    return round(_db(max(total - noise, 1e-12)) - _db(noise), 2)


def dc_offset(audio: np.ndarray) -> float:
    """Mean sample value (full scale = 1)."""
    return float(np.mean(audio, dtype=np.float64)) if audio.size else 0.0


def content_hash(audio: np.ndarray) -> str:
    """Fingerprint of the 16-bit samples: the same recording stored twice (even re-encoded
    losslessly or in another container) hashes the same."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2")
    return hashlib.blake2b(pcm.tobytes(), digest_size=10).hexdigest()
