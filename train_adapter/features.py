"""What Qwen2-Audio's encoder is given for a clip: the Whisper feature extractor's 128-bin log-mel.

The feature extractor is configuration only (no weights): the values below are those of the
Qwen2-Audio processor, so features computed here are the ones training and inference feed the
encoder. A clip is padded (or cut) to the window as the processor does and normalised over the
whole window (Whisper clamps each window at its maximum minus 8, in log10 units); the frames that
hold the clip are those its attention mask marks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manifests.audio import TARGET_SR as SAMPLING_RATE
MEL_BINS = 128
HOP = 160              # samples per mel frame at 16 kHz
FRAMES_PER_SECOND = SAMPLING_RATE // HOP
WINDOW_S = 30          # the encoder window of the real model: 3000 mel frames


class FeaturesUnavailable(RuntimeError):
    """transformers (the ``train`` extra) is not installed."""


def feature_extractor(window: int = WINDOW_S):
    """The Qwen2-Audio processor's WhisperFeatureExtractor for a ``window``-second window."""
    try:
        from transformers import WhisperFeatureExtractor
    except ImportError:
        raise FeaturesUnavailable("the Whisper feature extractor needs transformers: pip install "
                                  "'curate[train]'") from None
    return WhisperFeatureExtractor(feature_size=MEL_BINS, sampling_rate=SAMPLING_RATE,
                                   chunk_length=window, return_attention_mask=True)


@dataclass(frozen=True)
class LogMel:
    """The clip's part of the window: ``values`` is (128, frames), float32."""

    values: np.ndarray
    window_frames: int     # frames of the whole window the encoder sees (3000 for 30 s)
    truncated: bool        # the clip is longer than the window: its end is not seen

    @property
    def frames(self) -> int:
        return self.values.shape[1]

    @property
    def encoder_frames(self) -> int:
        return encoder_frames(self.frames)


def encoder_frames(frames: int) -> int:
    """Encoder positions for ``frames`` mel frames: the second convolution has stride 2."""
    return (frames - 1) // 2 + 1


def log_mel(audio: np.ndarray, extractor=None) -> LogMel:
    """The log-mel the encoder sees for ``audio`` (16 kHz mono float32)."""
    extractor = extractor or feature_extractor()
    out = extractor(np.asarray(audio, dtype=np.float32), sampling_rate=SAMPLING_RATE,
                    return_tensors="np", return_attention_mask=True)
    values, mask = out["input_features"][0], out["attention_mask"][0]
    frames = int(mask.sum())
    return LogMel(np.ascontiguousarray(values[:, :frames], dtype=np.float32), values.shape[1],
                  truncated=len(audio) > extractor.n_samples)
