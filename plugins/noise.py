"""noise: mix background noise (car cabin by default) into clips at a drawn speech SNR.

audiomentations' AddBackgroundNoise sets the noise level against the RMS of the whole clip. A clip
that is half silence has a whole-clip RMS ~3 dB under its speech, so the noise comes out ~3 dB
weaker than the SNR asked for, and more so the more silence a clip holds. Here the SNR is measured
where it matters, over the speech-active samples (vad's intervals, else an energy gate; see
curate/checks/speech_level.py), and noise power is measured over the same samples. The little
else the mix needs (file discovery, SNR→RMS, an equal-power crossfade to loop short noise files)
is a few lines of numpy here: importing audiomentations pulls in scipy.signal, ~1.4 s in every
worker process.

For each record the noise file, the offset into it and the SNR are drawn from the record's own
seeded generator (so results do not depend on workers or order), then applied; what was drawn is
written to the record's lineage (``file``, ``offset``, ``snr_db``, ``seed``, next to the stage's
parameters) and to a ``noise:snr=…`` tag.
"""
from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path

import numpy as np

from curate.checks.speech_level import mean_power, speech_mask
from curate.stage import SR, Context, Item, Param, ParamError
from manifests.audio import AudioError, load, probe

from .augment import Augmentation, Change
from .level import protect

CROSSFADE_S = 0.05   # where a short noise file loops, its end fades into its start
CACHE_MAX_S = 120.0  # noise files up to this long are decoded once per process and kept

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif"}
_cache: dict[str, np.ndarray] = {}
_looped: dict[str, np.ndarray] = {}  # a cached file, looped from its start


def bundled_noise_dir() -> Path:
    return Path(str(files("curate") / "demo" / "noise"))


class Noise(Augmentation):
    name = "noise"
    summary = "mix background noise at a drawn SNR measured over the speech (car noise by default)"
    params = {
        "dir": Param("str", None, "folder of noise recordings (searched recursively); default: "
                                  "the bundled car-cabin noise"),
        "snr": Param("range", (5.0, 20.0), "speech-to-noise ratio in dB, drawn uniformly from "
                                           "LO:HI per record (0.1 dB steps)"),
        "p": Param("float", 1.0, "probability that a record gets noise (0.5: half of them); "
                                 "the others pass through clean"),
        "keep_clean": Param("bool", False, "also keep the clean record; the noisy copy then "
                                           "gets the id suffix #noise"),
    }

    def validate(self) -> None:
        super().validate()
        self.root = (Path(self.dir) if self.dir else bundled_noise_dir()).resolve()
        self.files = noise_files(self.root)

    def draw_item(self, item: Item, ctx: Context) -> dict | None:
        return self.draw(item.record.id, item.duration, ctx)

    def change(self, item: Item, drawn: dict, ctx: Context) -> Change | None:
        try:
            noise = noise_segment(drawn["file"], drawn["offset"], len(item.audio),
                                  drawn["length"])
        except AudioError:
            # The header read at validation, the samples do not: set aside, visibly.
            item.reject(self.name, "noise_file_unreadable")
            return None
        mixed = mix(item.audio, noise, drawn["snr_db"], item.record.speech)
        if mixed is None:
            # No speech to measure against, or a silent stretch of noise: the clip stays clean.
            item.record.lineage.append(self.lineage(skipped="nothing to measure the SNR on"))
            return None
        audio, gain, scale = mixed
        return Change(audio, f"noise:snr={drawn['snr_db']:.1f}", dict(
            file=Path(drawn["file"]).relative_to(self.root).as_posix(),
            offset=drawn["offset"], snr_db=drawn["snr_db"], seed=ctx.seed,
            noise_gain_db=round(20 * math.log10(gain), 2), peak_scale=round(scale, 4)))

    def draw(self, record_id: str, duration: float, ctx: Context) -> dict | None:
        """What this record gets: noise file, its length (s, as probed at validation), offset (s)
        and SNR (dB); None when it stays clean."""
        rng = ctx.rng(self.name, record_id)
        if rng.random() >= self.p:
            return None
        path, length = self.files[int(rng.integers(len(self.files)))]
        # Start anywhere that leaves a whole clip of noise; a file shorter than the clip loops.
        span = length - duration if length >= duration else length
        offset = round(float(rng.uniform(0.0, span)), 3)
        snr = round(float(rng.uniform(*self.snr)), 1)
        return {"file": path, "length": length, "offset": offset, "snr_db": snr}


def mix(audio: np.ndarray, noise: np.ndarray, snr: float,
        speech=None) -> tuple[np.ndarray, float, float] | None:
    """``audio`` plus ``noise`` scaled to ``snr`` dB under the speech, both measured over the
    speech-active samples. Returns (mixture, noise gain, peak scale), or None when there is no
    speech or the noise is silent there.
    """
    mask = speech_mask(audio, speech)
    speech_power, noise_power = mean_power(audio, mask), mean_power(noise, mask)
    if speech_power == 0.0 or noise_power == 0.0:
        return None
    gain = math.sqrt(speech_power / noise_power) / 10 ** (snr / 20)
    mixed = np.multiply(noise, np.float32(gain))
    mixed += audio
    mixed, scale = protect(mixed)  # one factor on both: the SNR holds
    return mixed, gain, scale


def noise_files(folder: Path) -> list[tuple[str, float]]:
    """Every usable audio file under ``folder``, sorted, with its duration; ParamError if none."""
    if not folder.is_dir():
        raise ParamError(f"noise.dir: {folder} is not a folder")
    found = sorted(p for p in folder.resolve().rglob("*")
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    out = []
    for path in found:
        try:
            info = probe(str(path))
        except AudioError as e:
            raise ParamError(f"noise.dir: {e} (remove it or fix it)") from None
        out.append((str(path), info.duration))
    if not out:
        raise ParamError(f"noise.dir: no audio files (.wav, .flac, .ogg, .mp3, ...) in {folder}")
    return out


def noise_segment(path: str, offset: float, n: int, length: float | None = None) -> np.ndarray:
    """``n`` samples of noise from ``offset`` seconds into ``path``, looping a short file.

    ``length``: the file's duration in seconds, when known (else its header is probed)."""
    start = int(round(offset * SR))
    full = _cache.get(path)
    if full is None:
        if length is None:
            length = probe(path).duration
        if length > CACHE_MAX_S and (start + n) / SR <= length:
            piece = load(path, offset, n / SR)
            return loop(piece, 0, n)  # pads the odd sample lost to resampling
        full = load(path)
        if length > CACHE_MAX_S:
            return loop(full, start, n)
        _cache[path] = full
    start %= len(full)
    # Cut from the file's loop, built once (and grown): a stretch of noise is the same whatever
    # the length asked for (loop() leaves its last seam undone, and starts its first early
    # when the offset lies inside it).
    looped = _looped.get(path)
    if looped is None or len(looped) < start + n:
        looped = _looped[path] = loop(full, 0, max(start + n, 2 * len(full)))
    return looped[start:start + n]


def loop(noise: np.ndarray, start: int, n: int) -> np.ndarray:
    """``n`` samples of ``noise`` from ``start``, wrapping to the beginning with a crossfade."""
    start = start % len(noise)
    out = noise[start:start + n]
    while len(out) < n:
        xf = min(int(CROSSFADE_S * SR), len(out), len(noise) // 2)
        if xf < 2:
            out = np.concatenate((out, noise))
            continue
        ramp = np.linspace(0.0, np.pi / 2, xf, dtype=np.float32)
        fade_in, fade_out = np.sin(ramp), np.cos(ramp)  # equal power: no dip at the seam
        seam = out[-xf:] * fade_out + noise[:xf] * fade_in
        out = np.concatenate((out[:-xf], seam, noise[xf:]))
    return np.ascontiguousarray(out[:n], dtype=np.float32)
