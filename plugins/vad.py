"""vad: find speech, trim leading and trailing non-speech, reject clips without speech.

Frames are classified as speech or not (webrtcvad on 30 ms frames, or Silero's speech probability
on 32 ms frames), then smoothed: pauses shorter than ``hangover`` are bridged, and bursts shorter
than ``min_speech`` (clicks, door slams) are dropped. The record is trimmed to the first and last
speech, ``pad`` seconds either side, as a slice of its source: trimming does not change samples,
so the record keeps pointing at its source file with a new offset and duration. The speech
intervals go to ``record.speech`` (relative to the trimmed start) for later stages (chunk30 cuts at
pauses, noise measures SNR over speech).
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
        return smooth(flags, frame / SR, self.hangover, self.min_speech)


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
