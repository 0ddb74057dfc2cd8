"""Speech-like test audio: voiced harmonic bursts with syllable-rate envelopes, between silences."""
from __future__ import annotations

import numpy as np
import soundfile as sf

SR = 16000


def speechlike(seconds: float, seed: int = 0, sr: int = SR, lead: float = 0.5,
               tail: float = 0.5) -> np.ndarray:
    """``lead`` s of near-silence, then harmonic 'syllables' (~4/s, f0 100-220 Hz), then ``tail``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 100 + 120 * rng.random() + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * (3.5 + rng.random()) * t), 0, None) ** 0.5
    body = 0.25 * voiced * envelope + 0.01 * rng.standard_normal(n)
    floor = lambda m: 3e-4 * rng.standard_normal(int(m * sr))  # noqa: E731
    return np.concatenate([floor(lead), body, floor(tail)]).astype(np.float32)


def write(path, audio, sr: int = SR) -> str:
    sf.write(path, audio, sr)
    return str(path)
