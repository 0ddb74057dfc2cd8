"""codec: pass clips through the band limits and coders of a car's phone and Bluetooth paths.

Each record gets one codec, drawn from ``codecs`` with the record's own generator; the audio is
coded and decoded in memory and comes back as 16 kHz, aligned sample for sample with the input
(same length, no delay: libsndfile trims the Opus pre-skip and MP3 encoder delay, block codecs'
padding is cut off).

  narrowband  8 kHz telephone band: resampled to 8 kHz and back with soxr (HQ). Its anti-alias and
              anti-image filters pass up to 91 % of 4 kHz and stop everything above 4 kHz by
              ~120 dB (soxr HQ: 20-bit precision), the band edge of a narrowband call and of
              Bluetooth HFP with CVSD.
  wideband    7 kHz band (G.722, AMR-WB, Bluetooth HFP with mSBC): resampled through 14 kHz, the
              same filter with its edge at 7 kHz.
  ulaw, alaw  G.711 at 8 kHz, 8 bits a sample (the narrowband path, then libsndfile's G.711
              encoder in a WAV in memory: its μ-law and A-law tables, not numpy companding).
  gsm         GSM 06.10 full rate, 13 kbit/s at 8 kHz (libsndfile's GSM610 in WAV).
  opus        Opus at 16 kHz, ~20 kbit/s (libsndfile in OGG, compression level 0.95), as VoIP
              calls are coded; not drawn by default: libsndfile runs libopus at its highest
              complexity, which it does not let us lower, and that is ~10x the cost of the rest
              of a curate run.
  mp3         MPEG-2 Layer III at 16 kHz, ~20 kbit/s average bitrate (libsndfile, level 0.95;
              at a constant bitrate this low libsndfile leaves LAME's delay in, 1105 samples);
              not drawn by default either (no car path codes MP3, and it is slow too).

Every coder but ``narrowband``/``wideband`` needs libsndfile built with it: a codec this
machine's soundfile cannot write is refused when the stage is set up, before any audio is read.
audiomentations' Mp3Compression is not used: it draws its bitrate from the global ``random``
(not seedable per record) and needs lameenc or pydub/ffmpeg; the others here it does not have.
Output louder than 0.99 (resampling ripple on a clip near full scale) is scaled down whole (see
level.py). The lineage holds ``codec``, ``peak_scale`` and ``seed``; the tag is ``codec:NAME``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from curate.stage import SR, Context, Item, Param, ParamError

from .augment import Augmentation, Change
from .level import protect


@dataclass(frozen=True)
class Coder:
    rate: int                  # the rate the audio is coded at (band edge: rate / 2)
    format: str | None = None  # libsndfile container and subtype; None: band limit only
    subtype: str | None = None
    level: float | None = None  # libsndfile compression level (higher: lower bitrate)
    mode: str | None = None     # libsndfile bitrate mode (MP3)


CODERS = {
    "narrowband": Coder(8000),
    "wideband": Coder(14000),
    "ulaw": Coder(8000, "WAV", "ULAW"),
    "alaw": Coder(8000, "WAV", "ALAW"),
    "gsm": Coder(8000, "WAV", "GSM610"),
    "opus": Coder(SR, "OGG", "OPUS", 0.95),
    "mp3": Coder(SR, "MP3", "MPEG_LAYER_III", 0.95, "AVERAGE"),
}


class Codec(Augmentation):
    name = "codec"
    summary = "code like a phone or Bluetooth path (8/7 kHz band, G.711, GSM, Opus, MP3)"
    params = {
        "codecs": Param("list", ("narrowband", "wideband", "ulaw", "alaw", "gsm"),
                        "codecs to draw from, one per record with equal chance; available: "
                        + ", ".join(CODERS) + " (opus and mp3 are ~10x slower to code)"),
        "p": Param("float", 1.0, "probability that a record is coded; the others pass through "
                                 "as they are"),
        "keep_clean": Param("bool", False, "also keep the original record; the coded copy "
                                           "then gets the id suffix #codec"),
    }

    def validate(self) -> None:
        import soundfile as sf

        super().validate()
        unknown = [c for c in self.codecs if c not in CODERS]
        if unknown or not self.codecs:
            raise ParamError(f"codec.codecs: unknown codec {', '.join(unknown) or '(none)'}; "
                             f"available: {', '.join(CODERS)}")
        missing = [c for c in self.codecs if CODERS[c].format
                   and CODERS[c].subtype not in sf.available_subtypes(CODERS[c].format)]
        if missing:
            raise ParamError(f"codec.codecs: this soundfile (libsndfile "
                             f"{sf.__libsndfile_version__}) cannot write {', '.join(missing)}")

    def change(self, item: Item, name: str, ctx: Context) -> Change:
        audio, scale = protect(code(item.audio, CODERS[name]))
        return Change(audio, f"codec:{name}",
                      dict(codec=name, peak_scale=round(scale, 4), seed=ctx.seed))

    def draw(self, record_id: str, ctx: Context) -> str | None:
        """This record's codec; None when it is left alone (``p``)."""
        rng = ctx.rng(self.name, record_id)
        if rng.random() >= self.p:
            return None
        return self.codecs[int(rng.integers(len(self.codecs)))]


def code(audio: np.ndarray, coder: Coder) -> np.ndarray:
    """``audio`` (16 kHz) band-limited to ``coder.rate / 2``, coded and decoded, at 16 kHz again,
    exactly as long as it was."""
    import soundfile as sf
    import soxr

    x = audio if coder.rate == SR else soxr.resample(audio, SR, coder.rate, quality="HQ")
    if coder.format:
        buf = io.BytesIO()
        extra = {} if coder.level is None else {"compression_level": coder.level}
        if coder.mode:
            extra["bitrate_mode"] = coder.mode
        sf.write(buf, x, coder.rate, format=coder.format, subtype=coder.subtype, **extra)
        buf.seek(0)
        coded, _ = sf.read(buf, dtype="float32")
        # Block coders (GSM: 160 samples) pad the last block; a short read is padded back.
        x = np.pad(coded[:len(x)], (0, max(0, len(x) - len(coded))))
    y = x if coder.rate == SR else soxr.resample(x, coder.rate, SR, quality="HQ")
    out = np.zeros(len(audio), dtype=np.float32)
    out[:min(len(y), len(audio))] = y[:len(audio)]
    return out
