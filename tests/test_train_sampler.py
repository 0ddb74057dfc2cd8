"""Length-grouped batching and the padding / window figures, on the demo corpus's lengths."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from manifests import read_manifest
from train_adapter.sampler import (GROUP_BATCHES, LengthGroupedSampler, padding_share,
                                   window_utilisation)

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


def _demo_lengths() -> list[int]:
    # about what the collator builds: ~25 audio tokens per second plus the label
    return [int(25 * r.duration) + len(r.text) + 12 for r in read_manifest(DEMO)
            if r.duration <= 30]


def test_order_is_a_seeded_permutation_sorted_within_groups():
    lengths = _demo_lengths() * 3
    sampler = LengthGroupedSampler(lengths, step_rows=1)
    order = list(sampler)
    assert sorted(order) == list(range(len(lengths)))
    assert order == list(LengthGroupedSampler(lengths, step_rows=1))
    group = GROUP_BATCHES
    for start in range(0, len(order), group):
        chunk = [lengths[i] for i in order[start:start + group]]
        assert chunk == sorted(chunk, reverse=True)
    sampler.set_epoch(1)
    assert list(sampler) != order
    assert list(LengthGroupedSampler(lengths, 1, seed=5)) != order


def test_grouping_cuts_llm_padding():
    lengths = _demo_lengths()
    grouped = LengthGroupedSampler(lengths, step_rows=4).order()
    shuffled = LengthGroupedSampler(lengths, step_rows=4, grouped=False).order()
    with_grouping, without = padding_share(lengths, grouped, 4), padding_share(lengths, shuffled, 4)
    assert 0 <= with_grouping < without / 2
    assert padding_share([5, 5, 5, 5], [0, 1, 2, 3], 2) == 0
    assert padding_share([10, 5], [0, 1], 2) == 0.25


def test_window_utilisation_of_the_demo_corpus():
    durations = [r.duration for r in read_manifest(DEMO) if r.duration <= 30]
    share = window_utilisation(durations, 30.0)
    assert np.isclose(share, sum(durations) / (len(durations) * 30))
    assert share < 0.2    # short commands leave most of the 30 s window as padding
    assert window_utilisation([30.0, 30.0], 30.0) == 1.0


def test_an_uneven_epoch_ends_with_weightless_copies_of_its_last_rows():
    """14 rows at 4 per step: 16, the last two weightless copies of the partial step's two rows
    (index 14 + i stands for a copy of row i), so every process count sees the same last step."""
    from train_adapter.data import Example
    from train_adapter.trainer import StepPadded

    lengths = list(range(100, 114))
    sampler = LengthGroupedSampler(lengths, step_rows=4, seed=3)
    order = list(sampler)
    assert len(sampler) == len(order) == 16 and sampler.padding == 2
    assert sorted(order[:14]) == list(range(14))
    assert [i - 14 for i in order[14:]] == order[12:14]
    examples = StepPadded([Example(str(i), "correct_text", "打开空调", hyp="打开空掉")
                           for i in range(14)])
    copies = [examples[i] for i in order[14:]]
    assert [ex.id for ex in copies] == [str(i) for i in order[12:14]]
    assert all(ex.weightless for ex in copies) and not any(examples[i].weightless
                                                           for i in order[:14])
    assert len(LengthGroupedSampler(lengths, step_rows=7)) == 14     # even: nothing added
    # a drawn epoch (a mixture's) is padded the same way and redrawn per epoch
    drawn = LengthGroupedSampler(lengths, step_rows=4, draw=lambda e: [e % 14, 13 - e % 14, 5])
    assert len(drawn) == 4 and sorted(list(drawn)[:3]) == [0, 5, 13]
    drawn.set_epoch(1)
    assert sorted(list(drawn)[:3]) == [1, 5, 12]
