"""speed: speed perturbation, as Kaldi and WeNet recipes do it (factors 0.9, 1.0, 1.1).

Pitch and tempo change together, like a tape played faster or slower (sox ``speed``): the samples
are taken to have been recorded at ``16000 * f`` Hz and resampled to 16 kHz with soxr, so a clip of
``d`` seconds lasts ``d / f`` after it. Every time in the record moves with the audio: ``duration``,
the ``speech`` intervals, the sentence ``segments`` and a merged window's ``parts`` are divided by
``f``, so vad's intervals still sit on the speech and chunk30 and merge30 cut and pack the sped-up
audio correctly. The text is kept. A record pushed over 30 s (a 28 s clip at 0.9 lasts 31.1 s) is
left whole for the stages after it (chunk30 cuts it), never truncated.

audiomentations has no such transform (TimeStretch keeps the pitch, PitchShift the tempo; neither
is what Kaldi does), draws from the global ``random`` state rather than a generator seeded per
record (the output would depend on worker count and order), and knows nothing of timestamps.
Here the factor is drawn from the record's own generator and written to the lineage (``factor``,
``seed``) and to a ``speed:factor=…`` tag.
"""
from __future__ import annotations

import numpy as np

from curate.stage import SR, Context, Item, Param, ParamError

from .augment import Augmentation, Change

FACTOR_LIMITS = (0.5, 2.0)  # beyond these speech stops sounding like speech


class Speed(Augmentation):
    name = "speed"
    summary = "speed perturbation: resample so pitch and tempo change together (Kaldi style)"
    params = {
        "factors": Param("list", ("0.9", "1.0", "1.1"),
                         "speed factors, one drawn per record with equal chance (0.9,1.0,1.1); or "
                         "a range LO:HI drawn uniformly in 0.01 steps (0.9:1.1); a clip of d s "
                         "lasts d/f after"),
        "p": Param("float", 1.0, "probability that a record is perturbed; the others pass "
                                 "through as they are"),
        "keep_clean": Param("bool", False, "also keep the original record; the perturbed copy "
                                           "then gets the id suffix #speed"),
    }

    def validate(self) -> None:
        super().validate()
        try:
            if len(self.factors) == 1 and ":" in self.factors[0]:
                lo, hi = (float(v) for v in self.factors[0].split(":"))
                self.choices, self.span = None, (lo, hi)
                values = [lo, hi]
                if lo > hi:
                    raise ValueError
            else:
                self.choices, self.span = [float(v) for v in self.factors], None
                values = self.choices
        except ValueError:
            raise ParamError(f"speed.factors: expected numbers A,B,... or a range LO:HI, got "
                             f"{','.join(self.factors)!r}") from None
        lo, hi = FACTOR_LIMITS
        if not values or not all(lo <= v <= hi for v in values):
            raise ParamError(f"speed.factors must lie between {lo:g} and {hi:g}, got "
                             f"{','.join(self.factors)!r}")

    def change(self, item: Item, factor: float, ctx: Context) -> Change | None:
        import soxr

        if factor == 1.0:
            item.record.lineage.append(self.lineage(factor=1.0, seed=ctx.seed))
            return None
        audio = np.ascontiguousarray(soxr.resample(item.audio, SR * factor, SR, quality="HQ"),
                                     dtype=np.float32)
        return Change(audio, f"speed:factor={factor:g}", dict(factor=factor, seed=ctx.seed),
                      after=lambda it: rescale(it, factor))

    def draw(self, record_id: str, ctx: Context) -> float | None:
        """This record's speed factor; None when it is left alone (``p``)."""
        rng = ctx.rng(self.name, record_id)
        if rng.random() >= self.p:
            return None
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        return round(float(rng.uniform(*self.span)), 2)


def rescale(item: Item, factor: float) -> None:
    """Every time in ``item``'s record divided by ``factor``, to match its resampled audio."""
    rec = item.record
    rec.duration = len(item.audio) / SR

    def at(t: float, places: int = 3) -> float:
        return min(round(t / factor, places), round(rec.duration, places))

    if rec.speech is not None:
        rec.speech = [[at(s), at(e)] for s, e in rec.speech]
    if rec.segments is not None:
        rec.segments = [{**s, "start": at(s["start"]), "end": at(s["end"])} for s in rec.segments]
    parts = rec.extra.get("parts")
    if isinstance(parts, list):
        rec.extra["parts"] = [
            {**p, "start": at(p["start"], 6), "end": at(p["end"], 6)}
            if isinstance(p, dict) and _is_time(p.get("start")) and _is_time(p.get("end")) else p
            for p in parts]


def _is_time(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
