"""Measurements on a clip's samples (16 kHz mono float32): clipping, speech level, SNR, DC offset,
and a content fingerprint for finding the same audio under two names."""
from __future__ import annotations

import functools
import hashlib

import numpy as np

from manifests.audio import TARGET_SR as SR

from .speech_level import frame_power_db, mean_power, speech_mask

# Noise is estimated per frequency bin, from the quiet end of each bin's power over time. Speech
# is sparse in time and frequency: even in dense speech, each bin spends many frames between
# harmonics, formants and phonemes holding background only, which a whole-band frame level never
# does (its quietest frames are still the dips between syllables).
NFFT, HOP = 512, 256          # 32 ms Hann frames, half overlapping
SMOOTH_FRAMES = 9             # a bin's power averaged over 9 frames (0.16 s): a tighter quantile
# A bin holding noise alone NOISE_QUANTILE of the time reads right. Dense speech cut tight leaves
# a bin that little: at 10 % such clips read 4.5 dB low at 20-25 dB (bench/qc_snr.py, the clips
# tuned on); at 2 % 1.7 dB, for a 4 % high reading of pure noise (0.2 dB) and a wider spread.
NOISE_QUANTILE = 0.02
QUIET_FRAMES_PERCENTILE = 20  # a clip with this share of pause frames measures the noise there
MIN_QUIET_S = 0.3             # this much audio outside the vad's speech measures it directly
SILENCE_DB = -100.0           # reported for a level or noise floor of digital silence


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
    """Speech-to-noise ratio estimate in dB, over the speech-active samples (as noise mixes it).

    The noise power is the lowest of up to three estimates, each of which errs high where speech
    leaks into what it takes for background: ``noise_power`` (per frequency bin, holds in dense
    speech), the quietest 30 ms frames (hold in a short clip whose few short pauses smoothing
    spans), and, when the vad's intervals leave at least ``MIN_QUIET_S`` outside speech, the mean
    power there. In fluctuating noise (a cabin's) the quiet frames read ~1 dB under its mean at
    low SNR: bench/qc_snr.py shows the net effect.
    Speech power is the mean power over the speech-active samples (vad intervals, else an energy
    gate) less that noise. ``mask``: ``speech_mask(audio, speech)`` when the caller has it already.
    """
    if mask is None:
        mask = speech_mask(audio, speech)
    total = mean_power(audio, mask)
    noise = _lowest(noise_power(audio), _quiet_frames_power(audio))
    quiet = ~mask
    if speech and quiet.sum() >= MIN_QUIET_S * SR:
        direct = mean_power(audio, quiet)
        if direct > 0:  # digital silence outside the speech says nothing about the background
            noise = _lowest(noise, direct)
    if noise is None:
        return 0.0  # too short to measure a spectrum, or digital silence throughout
    if noise <= 0:
        return -SILENCE_DB  # digital silence under the speech: as clean as it gets
    return round(_db(max(total - noise, 1e-12)) - _db(noise), 2)


def noise_power(audio: np.ndarray) -> float | None:
    """Mean power per sample of the stationary background, or None when nothing can be measured.

    For each frequency bin, the ``NOISE_QUANTILE`` quantile over time of its (smoothed)
    power, divided by what that quantile is for Gaussian noise relative to its mean, gives the
    bin's noise level; summing the bins (Parseval) gives the power per sample. Frames of digital
    silence (zero padding, muted stretches) hold no background and are left out.
    """
    power = _smoothed_spectrogram(audio)
    if power is None:
        return None
    psd = np.quantile(power, NOISE_QUANTILE, axis=0) / _quantile_bias()
    return float(psd.sum())


def _quiet_frames_power(audio: np.ndarray) -> float | None:
    """The ``QUIET_FRAMES_PERCENTILE``-th percentile of 30 ms frame powers (digital silence left
    out): the background, where a clip holds that share of pauses, however short it is."""
    frames = frame_power_db(audio)
    frames = frames[np.isfinite(frames)]
    if frames.size == 0:
        return None
    return float(10 ** (np.percentile(frames, QUIET_FRAMES_PERCENTILE) / 10))


def _lowest(*estimates: float | None) -> float | None:
    found = [e for e in estimates if e is not None]
    return min(found) if found else None


def _smoothed_spectrogram(audio: np.ndarray) -> np.ndarray | None:
    """Per-frame power per bin, scaled so a row sums to the frame's mean power per sample."""
    n = (len(audio) - NFFT) // HOP + 1
    if n < SMOOTH_FRAMES:
        return None
    window = np.hanning(NFFT + 1)[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(audio, NFFT)[::HOP][:n]
    power = np.abs(np.fft.rfft(frames.astype(np.float64) * window, axis=1)) ** 2
    power[:, 1:-1] *= 2  # each interior bin stands for its negative-frequency twin too
    power /= NFFT * float(np.sum(window ** 2))
    power = power[power.sum(axis=1) > 0]
    if len(power) < SMOOTH_FRAMES:
        return None
    cumulative = np.cumsum(np.vstack([np.zeros(power.shape[1]), power]), axis=0)
    return (cumulative[SMOOTH_FRAMES:] - cumulative[:-SMOOTH_FRAMES]) / SMOOTH_FRAMES


@functools.cache
def _quantile_bias() -> float:
    """The ``NOISE_QUANTILE`` quantile of smoothed bin powers of Gaussian noise over their mean.

    Worked out on 20 s of seeded white noise through the same framing and smoothing (overlapping
    frames are correlated, so no textbook chi-square applies); 200k values pin it to ~0.3 %."""
    noise = np.random.default_rng(0).standard_normal(20 * SR)
    power = _smoothed_spectrogram(noise)[:, 1:-1]  # DC and Nyquist are real: another distribution
    return float(np.quantile(power, NOISE_QUANTILE) / power.mean())


def dc_offset(audio: np.ndarray) -> float:
    """Mean sample value (full scale = 1)."""
    return float(np.mean(audio, dtype=np.float64)) if audio.size else 0.0


def content_hash(audio: np.ndarray) -> str:
    """Fingerprint of the 16-bit samples: the same recording stored twice (even re-encoded
    losslessly or in another container) hashes the same."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2")
    return hashlib.blake2b(pcm.tobytes(), digest_size=10).hexdigest()
