"""reverb: convolve clips with a car-cabin room impulse response at a drawn direct-to-reverberant
ratio (DRR), keeping them aligned and at their level.

The impulse responses come from ``dir`` (any audio files, resampled to 16 kHz), by default the
bundled synthetic cabins in curate/demo/rirs/ (image-source method; see scripts/make_rirs.py and
that folder's README for how they were made). Per record the response and the DRR are drawn from
the record's own generator, then:

  - DRR: the response splits into its direct part, the taps within ``DIRECT_MS`` (1 ms) of its
    strongest tap (the direct sound), and the rest; the rest is scaled so that direct energy over
    reverberant energy is the drawn DRR. In a cabin the first reflections arrive 1–3 ms after the
    direct sound, so the ±2.5 ms window used for rooms would count them as direct.
  - alignment: the output is the convolution from the direct sound on, so speech stays where it
    was (vad's intervals and sentence timestamps still hold; the cross-correlation of input and
    output peaks at lag 0); the reverberant tail past the clip's end is cut, as a recording ends.
  - level: the output is scaled to the input's mean power over the speech (vad's intervals, else
    the energy gate of curate/checks/speech_level.py), then scaled down whole if it would pass
    0.99 (level.py).

audiomentations' ApplyImpulseResponse is not used: it draws the file from the global ``random``
(not seedable per record), has no DRR control, and keeps the onset delay of the response
(``leave_length_unchanged`` trims the tail only). The lineage holds ``file``, ``drr_db`` (drawn),
``rir_drr_db`` (the file's own), ``level_db``, ``peak_scale`` and ``seed``; the tag is
``reverb:drr=…``.
"""
from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path

import numpy as np

from curate.checks.speech_level import mean_power, speech_mask
from curate.stage import SR, Context, Item, Param, ParamError
from manifests.audio import AudioError, load

from .augment import Augmentation, Change
from .level import protect
from .noise import AUDIO_SUFFIXES

DIRECT_MS = 1.0      # taps this close to the strongest one are the direct sound
MAX_RIR_S = 2.0      # a longer "impulse response" is a recording, not a response
OLA_MIN_FFT = 1 << 14  # the smallest block FFT of the overlap-add (convolve_aligned)


def bundled_rir_dir() -> Path:
    return Path(str(files("curate") / "demo" / "rirs"))


class Reverb(Augmentation):
    name = "reverb"
    summary = "convolve with a car-cabin impulse response at a drawn DRR, aligned, level kept"
    params = {
        "dir": Param("str", None, "folder of room impulse responses (searched recursively); "
                                  "default: the bundled synthetic car cabins"),
        "drr": Param("range", (-6.0, 12.0), "direct-to-reverberant ratio in dB, drawn uniformly "
                                           "from LO:HI per record (0.1 dB steps)"),
        "p": Param("float", 1.0, "probability that a record gets reverberation; the others "
                                 "pass through dry"),
        "keep_clean": Param("bool", False, "also keep the dry record; the reverberant copy "
                                           "then gets the id suffix #reverb"),
    }

    def validate(self) -> None:
        super().validate()
        self.root = (Path(self.dir) if self.dir else bundled_rir_dir()).resolve()
        # Responses are short (float32, 2 s at most): all are decoded once here, at set-up, and
        # travel with the stage to the workers.
        self.rirs = rir_files(self.root)

    def change(self, item: Item, drawn: tuple[str, float], ctx: Context) -> Change | None:
        name, drr = drawn
        rir = self.rirs[name]
        # Aligned on the unscaled response's direct tap: at a low DRR an early reflection of the
        # scaled one can be stronger than the direct sound.
        wet = convolve_aligned(item.audio, set_drr(rir, drr), direct_tap(rir))
        mask = speech_mask(item.audio, item.record.speech)
        dry_power, wet_power = mean_power(item.audio, mask), mean_power(wet, mask)
        if dry_power == 0.0 or wet_power == 0.0:
            item.record.lineage.append(self.lineage(skipped="no speech to keep the level of"))
            return None
        level = math.sqrt(dry_power / wet_power)
        audio, scale = protect(wet * np.float32(level))
        return Change(audio, f"reverb:drr={drr:.1f}", dict(
            file=name, drr_db=drr, rir_drr_db=round(drr_db(rir), 2),
            level_db=round(20 * math.log10(level), 2), peak_scale=round(scale, 4),
            seed=ctx.seed))

    def draw(self, record_id: str, ctx: Context) -> tuple[str, float] | None:
        """This record's response (its path under ``dir``) and DRR in dB; None: it stays dry."""
        rng = ctx.rng(self.name, record_id)
        if rng.random() >= self.p:
            return None
        names = sorted(self.rirs)
        return names[int(rng.integers(len(names)))], round(float(rng.uniform(*self.drr)), 1)


def rir_files(folder: Path) -> dict[str, np.ndarray]:
    """Every impulse response under ``folder`` by its path there, decoded; ParamError if none,
    or if one cannot be decoded, is silent or is too long to be a response."""
    if not folder.is_dir():
        raise ParamError(f"reverb.dir: {folder} is not a folder")
    found = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    out = {}
    for path in found:
        name = path.relative_to(folder).as_posix()
        try:
            h = load(str(path))
        except AudioError as e:
            raise ParamError(f"reverb.dir: {e} (remove it or fix it)") from None
        if len(h) > MAX_RIR_S * SR:
            raise ParamError(f"reverb.dir: {name} lasts {len(h) / SR:.1f} s, longer than an "
                             f"impulse response ({MAX_RIR_S:g} s at most)")
        if not np.any(h):
            raise ParamError(f"reverb.dir: {name} is silent")
        out[name] = h
    if not out:
        raise ParamError(f"reverb.dir: no audio files (.wav, .flac, ...) in {folder}")
    return out


def direct_tap(h: np.ndarray) -> int:
    """The direct sound's tap: the strongest of ``h`` (as recorded, before set_drr)."""
    return int(np.argmax(np.abs(h)))


def direct_span(h: np.ndarray) -> tuple[int, int]:
    """The direct sound's taps ``[a, b)``: within DIRECT_MS of the strongest tap."""
    peak, w = direct_tap(h), int(round(DIRECT_MS * SR / 1000))
    return max(0, peak - w), min(len(h), peak + w + 1)


def drr_db(h: np.ndarray) -> float:
    """Direct-to-reverberant energy ratio of ``h`` in dB (inf when it has no reverberant part)."""
    a, b = direct_span(h)
    h = h.astype(np.float64)
    direct = float(np.sum(h[a:b] ** 2))
    reverberant = float(np.sum(h[:a] ** 2) + np.sum(h[b:] ** 2))
    return math.inf if reverberant == 0.0 else 10 * math.log10(direct / reverberant)


def set_drr(h: np.ndarray, drr: float) -> np.ndarray:
    """``h`` with its reverberant part scaled so that its DRR is ``drr`` dB."""
    a, b = direct_span(h)
    own = drr_db(h)
    out = h.astype(np.float64)
    if math.isinf(own):
        return out
    g = 10 ** ((own - drr) / 20)
    out[:a] *= g
    out[b:] *= g
    return out


def convolve_aligned(audio: np.ndarray, h: np.ndarray, start: int | None = None) -> np.ndarray:
    """``audio`` convolved with ``h``, from the direct sound's tap ``start`` on (default: ``h``'s
    strongest; pass the unscaled response's, as set_drr can make a reflection the strongest), as
    long as ``audio``."""
    n, m = len(audio), len(h)
    start = direct_tap(h) if start is None else start
    # Overlap-add in blocks of one FFT size a few times the response's (one batched FFT over
    # all blocks): a cabin response is 0.05-0.3 s, and an FFT of the whole 30 s window took
    # 2.5x as long for the same float64 sums (the float32 output is the same to the bit).
    size = fft_size(max(4 * m, OLA_MIN_FFT))
    step = size - m + 1
    k = -(-n // step)
    blocks = np.zeros((k, step))
    blocks.reshape(-1)[:n] = audio
    pieces = np.fft.irfft(np.fft.rfft(blocks, size, axis=1) * np.fft.rfft(h, size), size, axis=1)
    out = np.zeros((k + 1) * step)
    out[:k * step] += pieces[:, :step].reshape(-1)
    tails = np.zeros((k, step))       # each block's ringing past its end, into the next one
    tails[:, :m - 1] = pieces[:, step:]
    out[step:] += tails.reshape(-1)
    return out[start:start + n].astype(np.float32)


def fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= ``n``: as fast as a power of two, up to ~2x shorter."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best, p35 = min(best, m), p35 * 3
        p5 *= 5
    return best
