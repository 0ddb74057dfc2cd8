"""Clipping protection shared by the stages that raise levels (noise, gain, reverb, codec).

A sample beyond full scale is clipped when the FLAC is written: distortion that no parameter
asked for. A result whose peak passes ``PEAK`` is instead scaled down as a whole: one
factor over the clip keeps every ratio inside it (an SNR, a DRR) as it was drawn.
"""
from __future__ import annotations

import numpy as np

PEAK = 0.99  # results louder than this are scaled down whole, rather than clipped


def protect(audio: np.ndarray) -> tuple[np.ndarray, float]:
    """``audio`` scaled down whole if its peak passes PEAK, as float32; and the factor used."""
    peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0
    if not peak > PEAK:
        return audio.astype(np.float32, copy=False), 1.0
    scale = PEAK / peak
    return (audio * np.float32(scale)).astype(np.float32, copy=False), scale
