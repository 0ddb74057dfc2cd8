"""The collator, for every family: labels only on the answer, padding sides, audio rows, the
silent clip, and prompts that take their audio as each family's own processor gives it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from manifests import Problems
from train_adapter import data as D
from train_adapter.collator import IGNORE, Collator, token_lengths
from train_adapter.families import by_name
from train_adapter.model import build_tiny, load_processor
from train_adapter.prompts import Prompts
from train_adapter.prompts import load as load_prompts

DEMO_DIR = Path(__file__).resolve().parents[1] / "curate" / "demo"


@pytest.fixture(scope="module")
def demo():
    examples, _ = D.read_source(DEMO_DIR / "manifest.jsonl", D.Rules(task="mix", max_seconds=8),
                                Problems())
    return {ex.id: ex for ex in examples}


FAMILIES = ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"]


@pytest.fixture(scope="module", params=FAMILIES)
def tiny(request, tmp_path_factory, demo):
    folder = build_tiny(tmp_path_factory.mktemp(request.param),
                        [ex.text for ex in demo.values()], window=8,
                        family=by_name(request.param))
    return load_processor(folder), load_prompts(str(folder))


STYLE_CASES = [(f, s) for f in FAMILIES for s in by_name(f).styles]


@pytest.fixture(scope="module")
def tiny_of(tmp_path_factory, demo):
    built = {}

    def get(family):
        if family not in built:
            folder = build_tiny(tmp_path_factory.mktemp(family),
                                [ex.text for ex in demo.values()], window=8,
                                family=by_name(family))
            built[family] = load_processor(folder)
        return built[family]
    return get


def _ids(kind: str) -> list[str]:
    return json.loads((DEMO_DIR / "planted.json").read_text())[kind]


@pytest.mark.parametrize("family,style", STYLE_CASES)
def test_labels_cover_exactly_the_answer_and_end_token(tiny_of, demo, family, style):
    processor = tiny_of(family)
    token = processor.family.audio_token
    prompts = Prompts(style, dict(processor.family.styles[style]))
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
        before, after = prompts.render(ex.task, ex.hyp).split(token)
        prompt = tok.decode(ids[:first])
        assert prompt.startswith(before + token) and prompt.endswith(token + after)
    assert torch.equal(batch["loss_mask"], batch["labels"][:, 1:] != IGNORE)
    assert batch["input_features"].shape[0] == 3
    # planned from the manifest's durations, rounded to 1 ms: at most 16 samples, one mel frame,
    # so at most one audio token off
    planned = token_lengths(batch_examples, prompts, processor)
    assert all(abs(p - n) <= 1 for p, n in zip(planned, batch["attention_mask"].sum(1).tolist()))


@pytest.mark.parametrize("kind", ["sr_8k", "sr_44k", "stereo"])
def test_other_rates_and_stereo_reach_the_encoder_as_16k_mono(tiny, demo, kind):
    processor, prompts = tiny
    examples = [demo[i] for i in _ids(kind) if i in demo]
    assert examples
    batch = Collator(processor, prompts)(examples)
    for row, ex in enumerate(examples):
        frames = int(batch[processor.family.mask_key][row].sum())
        assert abs(frames - ex.duration * 100) <= 2     # 100 mel frames per second at 16 kHz
        n_audio = int((batch["input_ids"][row] == processor.audio_token_id).sum())
        assert abs(n_audio - processor.audio_tokens(ex.duration)) <= 1   # durations are rounded


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
    # 0.1 s of silence (Qwen3-ASR's extractor pads any clip to 0.5 s first)
    assert int(padded[processor.family.mask_key][0].sum()) == \
        processor.family.frames(1600, processor.feature_extractor)
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


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen3_asr"])
def test_prompts_take_their_audio_as_the_familys_own_processor_gives_it(tiny_of, demo, family):
    """The expansion is ours (rows without audio may share a batch); it must equal the family's
    processor token for token and feature for feature. (The Omni processor also needs
    torchvision for its video half, so it is not built here.)"""
    from transformers import Qwen2AudioProcessor, Qwen3ASRProcessor

    from manifests.audio import TARGET_SR, load
    processor = tiny_of(family)
    own = {"qwen2_audio": Qwen2AudioProcessor, "qwen3_asr": Qwen3ASRProcessor}[family] \
        .from_pretrained(str(processor.folder), local_files_only=True)
    examples = sorted(demo.values(), key=lambda ex: ex.duration)[::7][:4]
    prompts = [processor.family.styles[next(iter(processor.family.styles))]["asr"]] * 4
    audios = [load(ex.audio, ex.offset, ex.duration) for ex in examples]
    ids, features = processor(prompts, audios)
    theirs = own(text=prompts, audio=audios, sampling_rate=TARGET_SR, return_tensors="pt",
                 padding=True)
    for row, mask in enumerate(theirs["attention_mask"]):
        assert ids[row] == theirs["input_ids"][row][mask.bool()].tolist()
    for key, value in features.items():
        assert torch.equal(value, theirs[key]), key
