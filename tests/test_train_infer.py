"""Inference: the repetition guard, token budgets, and resuming an interrupted output."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from manifests import Problems
from manifests.textfile import read_name_text
from train_adapter import data as D
from train_adapter import infer as I
from train_adapter.families import by_name
from train_adapter.model import build_tiny, load
from train_adapter.prompts import load as load_prompts

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


def test_loop_detection_and_trimming():
    assert I.loop_unit([5] * 15) == 0 and I.loop_unit([5] * 16) == 1
    assert I.loop_unit([1, 2, 3] + [7, 8] * 8) == 2
    assert I.loop_unit([1, 2, 3, 4] * 3) == 0                 # three repeats: could be speech
    assert I.loop_unit(list(range(40))) == 0
    assert I.trim_loop([1, 2, 3] + [7, 8] * 9) == [1, 2, 3, 7, 8]
    assert I.trim_loop([9, 9, 1, 2]) == [9, 9, 1, 2]
    guard = I.RepetitionGuard(prompt_length=2)
    rows = torch.tensor([[0, 0] + [4] * 16, [0, 0] + list(range(16))])
    assert guard(rows, None).tolist() == [True, False]


def test_token_budget_scales_with_duration_and_hypothesis(tmp_path):
    tokenizer = load(build_tiny(tmp_path / "tiny", ["打开空调"], window=8))[1].tokenizer
    short = D.Example("a", "asr", "", audio="x", duration=2.0)
    long = D.Example("b", "asr", "", audio="x", duration=20.0)
    assert I.new_token_budgets([short], tokenizer, 8) == [24]
    assert I.new_token_budgets([short, long], tokenizer, 8) == [24, 168]   # each its own
    wordy = D.Example("c", "correct", "", hyp="打开空调" * 20, audio="x", duration=1.0)
    hyp_tokens = len(tokenizer(wordy.hyp, add_special_tokens=False)["input_ids"])
    assert I.new_token_budgets([wordy, short], tokenizer, 8) == [2 * hyp_tokens + 8, 24]


def test_an_interrupted_output_is_resumed(tmp_path):
    examples, _ = D.read_source(DEMO, D.Rules(max_seconds=8, need_label=False, training=False),
                                Problems())
    examples = examples[:6]
    folder = build_tiny(tmp_path / "tiny", [ex.text for ex in examples], window=8)
    model, processor = load(folder)
    out = tmp_path / "hyp.tsv"
    partial = tmp_path / "hyp.tsv.partial"
    # two finished lines and one torn by the interruption
    partial.write_text(f"{examples[4].id}\tKEPT 4\n{examples[1].id}\tKEPT 1\n{examples[0].id}\tTO",
                       encoding="utf-8")
    assert [ex.id for ex in I.pending(examples, out)] == [examples[i].id for i in (0, 2, 3, 5)]
    calls = []
    stats = I.transcribe(model, processor, load_prompts(str(folder)), examples, out,
                         batch_size=3, on_batch=calls.append)
    assert stats.resumed == 2 and stats.written == 6 and not partial.exists()
    assert sum(calls) == pytest.approx(sum(examples[i].duration for i in (0, 2, 3, 5)))
    rows = read_name_text(out, Problems())
    assert list(rows) == [ex.id for ex in examples]           # input order, every id once
    assert rows[examples[4].id] == "KEPT 4" and rows[examples[1].id] == "KEPT 1"
    assert rows[examples[0].id] != "TO"
    assert all("\t" not in text and "\n" not in text for text in rows.values())


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"])
def test_a_rows_output_does_not_depend_on_its_batch_mates(tmp_path, family):
    """Clips of 1-8 s in batches of 4 and one by one: the same texts. Each row stops at its
    own budget (2 tokens per second here, so the random model reaches it); with one budget per
    batch, the short clips of a batch would run on to the longest clip's budget."""
    examples, _ = D.read_source(DEMO, D.Rules(max_seconds=8, need_label=False, training=False),
                                Problems())
    by_length = sorted(examples, key=lambda ex: ex.duration)
    examples = by_length[::max(1, len(by_length) // 8)][:8]      # short to long
    assert max(ex.duration for ex in examples) > 2 * min(ex.duration for ex in examples)
    folder = build_tiny(tmp_path / "tiny", [ex.text for ex in examples], window=8,
                        family=by_name(family))
    model, processor = load(folder)
    prompts = load_prompts(str(folder))
    outputs = {}
    for batch_size in (4, 1):
        out = tmp_path / f"batch{batch_size}.tsv"
        I.transcribe(model, processor, prompts, examples, out, batch_size=batch_size,
                     tokens_per_second=2)
        outputs[batch_size] = read_name_text(out, Problems())
    assert outputs[4] == outputs[1]
    budgets = I.new_token_budgets(examples, processor.tokenizer, 2)
    assert len(set(budgets)) > 2
