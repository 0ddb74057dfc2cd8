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

    ``draw(epoch)``: the indices (into ``lengths``) the epoch uses, e.g. a weighted mixture
    redrawn per epoch (:meth:`.data.Mixture.draw`); by default every index once. Its size must
    not change between epochs.

    An epoch whose size is not a multiple of ``step_rows`` has its last step filled up with
    *weightless* rows: index ``len(lengths) + i`` stands for a copy of item ``i`` whose labels
    are ignored (:class:`.trainer.StepPadded`). They add nothing to the loss, the gradients or
    the token count, so the last step is the same sum of the same rows however it is split
    across processes; the data loader's own padding (a copy of the epoch's first rows, trained
    on) is then never needed.
    """

    def __init__(self, lengths, step_rows: int, *, seed: int = 0, grouped: bool = True,
                 draw=None) -> None:
        self.lengths = np.asarray(lengths)
        self.step_rows = max(1, step_rows)
        self.group = self.step_rows * GROUP_BATCHES
        self.seed = seed
        self.grouped = grouped
        self.draw = draw
        self.epoch = 0
        self.rows = len(draw(0)) if draw else len(self.lengths)   # per epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def padding(self) -> int:
        """Weightless rows that fill the epoch's last step."""
        return -self.rows % self.step_rows

    def __len__(self) -> int:
        return self.rows + self.padding

    def __iter__(self):
        order = self.order()
        if self.padding:
            last = order[len(order) - len(order) % self.step_rows:]   # the partial step's rows
            pads = len(self.lengths) + np.resize(last, self.padding)
            order = np.concatenate([order, pads])
        return iter(order.tolist())

    def order(self) -> np.ndarray:
        """The epoch's indices in training order (without the weightless rows)."""
        items = np.asarray(self.draw(self.epoch)) if self.draw \
            else np.arange(len(self.lengths))
        if len(items) != self.rows:
            raise ValueError(f"epoch {self.epoch} drew {len(items)} rows, epoch 0 {self.rows}")
        items = items[np.random.default_rng((self.seed, self.epoch)).permutation(len(items))]
        if not self.grouped:
            return items
        groups = [items[i:i + self.group] for i in range(0, len(items), self.group)]
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
