"""The collator: labels only on the answer, padding sides, audio rows, the silent clip."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from manifests import Problems
from train_adapter import data as D
from train_adapter.collator import IGNORE, Collator, token_lengths
from train_adapter.model import audio_tokens, build_tiny, load_processor
from train_adapter.prompts import STYLES, Prompts
from train_adapter.prompts import load as load_prompts

DEMO_DIR = Path(__file__).resolve().parents[1] / "curate" / "demo"


@pytest.fixture(scope="module")
def demo():
    examples, _ = D.read_source(DEMO_DIR / "manifest.jsonl", D.Rules(task="mix", max_seconds=8),
                                Problems())
    return {ex.id: ex for ex in examples}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, demo):
    folder = build_tiny(tmp_path_factory.mktemp("tiny"), [ex.text for ex in demo.values()],
                        window=8)
    return load_processor(folder), load_prompts(str(folder))


def _ids(kind: str) -> list[str]:
    return json.loads((DEMO_DIR / "planted.json").read_text())[kind]


@pytest.mark.parametrize("style", ["base", "instruct"])
def test_labels_cover_exactly_the_answer_and_end_token(tiny, demo, style):
    processor, _ = tiny
    prompts = Prompts(style, dict(STYLES[style]))
    batch_examples = [demo[i] for i in list(demo)[:3]]
    batch = Collator(processor, prompts)(batch_examples)
    tok = processor.tokenizer
    for row, ex in enumerate(batch_examples):
        mask, labels = batch["attention_mask"][row], batch["labels"][row]
        ids = batch["input_ids"][row]
        n = int(mask.sum())
        assert mask[:n].all() and not mask[n:].any()                # right padding
        labelled = labels != IGNORE
        first = int(labelled.nonzero()[0])
        assert labelled[first:n].all() and not labelled[:first].any() and not labelled[n:].any()
        assert torch.equal(labels[first:n], ids[first:n])
        assert tok.decode(ids[first:n]) == ex.text + "<|im_end|>"
        before, after = prompts.render(ex.task, ex.hyp).split("<|AUDIO|>")
        prompt = tok.decode(ids[:first])
        assert prompt.startswith(before + "<|AUDIO|>") and prompt.endswith("<|AUDIO|>" + after)
    assert torch.equal(batch["loss_mask"], batch["labels"][:, 1:] != IGNORE)
    assert batch["input_features"].shape[0] == 3
    planned = token_lengths(batch_examples, prompts, tok)    # from rounded manifest durations
    assert all(abs(p - n) <= 1 for p, n in zip(planned, batch["attention_mask"].sum(1).tolist()))


@pytest.mark.parametrize("kind", ["sr_8k", "sr_44k", "stereo"])
def test_other_rates_and_stereo_reach_the_encoder_as_16k_mono(tiny, demo, kind):
    processor, prompts = tiny
    examples = [demo[i] for i in _ids(kind) if i in demo]
    assert examples
    batch = Collator(processor, prompts)(examples)
    for row, ex in enumerate(examples):
        frames = int(batch["feature_attention_mask"][row].sum())
        assert abs(frames - ex.duration * 100) <= 2     # 100 mel frames per second at 16 kHz
        n_audio = int((batch["input_ids"][row] == processor.audio_token_id).sum())
        assert abs(n_audio - audio_tokens(ex.duration)) <= 1   # durations are rounded


def test_text_only_rows_and_the_silent_clip(tiny, demo):
    processor, prompts = tiny
    pair = D.Example("p1", "correct_text", "打开空调", hyp="打开空掉")
    audio = next(iter(demo.values()))
    mixed = Collator(processor, prompts)([audio, pair])
    assert mixed["input_features"].shape[0] == 1       # one feature row per audio, not per row
    assert not (mixed["input_ids"][1] == processor.audio_token_id).any()

    plain = Collator(processor, prompts)([pair])
    assert "input_features" not in plain and plain["input_ids"].shape[0] == 1
    padded = Collator(processor, prompts, silent_audio=True)([pair])
    assert padded["input_ids"].shape[0] == 2 and padded["input_features"].shape[0] == 1
    assert (padded["labels"][1] == IGNORE).all()
    assert torch.equal(padded["labels"][0][:plain["labels"].shape[1]], plain["labels"][0])
    assert int(padded["feature_attention_mask"][0].sum()) == 10      # 0.1 s of silence
    with_audio = Collator(processor, prompts, silent_audio=True)([audio, pair])
    assert with_audio["input_ids"].shape[0] == 2      # a batch with audio needs no extra row


def test_generation_batches_are_left_padded_without_labels(tiny, demo):
    processor, prompts = tiny
    examples = sorted(demo.values(), key=lambda ex: ex.duration)
    batch = Collator(processor, prompts, generation=True)([examples[0], examples[-1]])
    assert "labels" not in batch and "loss_mask" not in batch
    mask = batch["attention_mask"]
    short = int(mask[0].sum())
    assert short < mask.shape[1] and not mask[0, :-short].any() and mask[0, -short:].all()
    assert mask[1].all()
    tail = processor.tokenizer.decode(batch["input_ids"][0, -5:])
    assert prompts.render(examples[0].task, examples[0].hyp).endswith(tail)


def test_a_weightless_copy_is_a_prompt_without_labels(tiny, demo):
    """It fills an epoch's last step: it must add no labelled token (no loss, no gradient)."""
    from dataclasses import replace
    processor, prompts = tiny
    audio = next(iter(demo.values()))
    real = Collator(processor, prompts)([audio, audio])
    padded = Collator(processor, prompts)([audio, replace(audio, weightless=True)])
    assert torch.equal(padded["labels"][0], real["labels"][0])
    assert (padded["labels"][1] == IGNORE).all() and not padded["loss_mask"][1].any()
    assert padded["input_features"].shape[0] == 2     # its audio still runs through the encoder
