"""gain: change a clip's level by a drawn number of dB (talkers near and far, loud and soft).

audiomentations' Gain does the same multiplication but draws from the global ``random`` state
(not a generator seeded per record, so output would depend on worker count and order) and leaves
a loud clip beyond full scale, where the FLAC writer clips it. Here the gain is drawn from the
record's own generator in 0.1 dB steps, and a result whose peak would pass 0.99 is scaled down
whole instead (see level.py): the clip then gets less gain than drawn, and the lineage says so
(``gain_db`` drawn, ``peak_scale`` applied, ``applied_db`` the two together, ``seed``); the tag is
``gain:db=…``.
"""
from __future__ import annotations

import math

import numpy as np

from curate.stage import Context, Item, Param

from .augment import Augmentation, Change
from .level import protect


class Gain(Augmentation):
    name = "gain"
    summary = "change the level by a gain in dB drawn per record, scaled down rather than clipped"
    params = {
        "db": Param("range", (-12.0, 6.0), "gain in dB, drawn uniformly from LO:HI per record "
                                           "(0.1 dB steps)"),
        "p": Param("float", 1.0, "probability that a record's level is changed; the others pass "
                                 "through as they are"),
        "keep_clean": Param("bool", False, "also keep the original record; the changed copy "
                                           "then gets the id suffix #gain"),
    }

    def change(self, item: Item, db: float, ctx: Context) -> Change:
        audio, scale = protect(item.audio * np.float32(10 ** (db / 20)))
        applied = db + 20 * math.log10(scale)
        return Change(audio, f"gain:db={db:.1f}",
                      dict(gain_db=db, peak_scale=round(scale, 4), applied_db=round(applied, 2),
                           seed=ctx.seed))

    def draw(self, record_id: str, ctx: Context) -> float | None:
        """This record's gain in dB; None when it is left alone (``p``)."""
        rng = ctx.rng(self.name, record_id)
        if rng.random() >= self.p:
            return None
        return round(float(rng.uniform(*self.db)), 1)
