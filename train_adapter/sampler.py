"""Length-grouped ordering for the LLM side, and the two figures printed before training.

The encoder always sees a full window per clip, but the LLM sees ``prompt + audio tokens + answer``
and pads every row to the longest in its batch. Sorting within large random groups puts rows of
similar length together without losing shuffling between groups.
"""
from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler

GROUP_BATCHES = 50   # steps per sorted group: enough to pair lengths well, few enough to mix


class LengthGroupedSampler(Sampler[int]):
    """Shuffled indices, sorted longest-first within groups of ``step_rows * GROUP_BATCHES``.

    ``step_rows`` is the number of examples one optimizer step consumes (per-device batch ×
    accumulation × processes), so the order does not depend on how a step is split: the data
    loader hands consecutive batches to the processes in turn, and they all come from one group.
    Deterministic per (seed, epoch) on every process. ``grouped=False`` gives a plain seeded
    shuffle.
    """

    def __init__(self, lengths, step_rows: int, *, seed: int = 0, grouped: bool = True) -> None:
        self.lengths = np.asarray(lengths)
        self.group = max(1, step_rows) * GROUP_BATCHES
        self.seed = seed
        self.grouped = grouped
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        return iter(self.order().tolist())

    def order(self) -> np.ndarray:
        perm = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.lengths))
        if not self.grouped:
            return perm
        groups = [perm[i:i + self.group] for i in range(0, len(perm), self.group)]
        # mergesort: stable, so equal lengths keep their random order
        return np.concatenate([g[np.argsort(-self.lengths[g], kind="mergesort")] for g in groups])


def padding_share(lengths, order, batch_size: int) -> float:
    """Share of LLM token slots that are padding when ``order`` is cut into batches."""
    lengths = np.asarray(lengths)[np.asarray(order)]
    slots = real = 0
    for i in range(0, len(lengths), batch_size):
        batch = lengths[i:i + batch_size]
        slots += int(batch.max()) * len(batch)
        real += int(batch.sum())
    return 1.0 - real / slots if slots else 0.0


def window_utilisation(durations, window: float) -> float:
    """Audio seconds ÷ (clips × window seconds): how much of the fixed encoder cost is speech."""
    durations = [d for d in durations if d > 0]
    return sum(durations) / (len(durations) * window) if durations else 0.0
