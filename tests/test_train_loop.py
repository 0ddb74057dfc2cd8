"""Training end to end on the tiny model: loss falls, save → load → infer, resume, LoRA."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from manifests import Problems, read_manifest, write_manifest
from manifests.textfile import read_name_text
from train_adapter import data as D
from train_adapter.collator import Collator
from train_adapter.finetune import Job, finetune
from train_adapter.infer import transcribe
from train_adapter.model import load
from train_adapter.prompts import load as load_prompts
from train_adapter.recipe import Lora, Recipe
from train_adapter.trainer import Settings

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> Path:
    """Four short demo commands with different labels."""
    records = [r for r in read_manifest(DEMO) if 1 < r.duration < 6 and r.text][:4]
    assert len({r.text for r in records}) == 4
    manifest = tmp_path_factory.mktemp("four") / "manifest.jsonl"
    write_manifest(manifest, records)
    return manifest


def _losses(out: Path) -> list[tuple[int, float]]:
    history = json.loads((out / "train.json").read_text())["log_history"]
    return [(h["step"], h["loss"]) for h in history if "loss" in h]


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"])
def test_loss_falls_and_the_saved_model_transcribes_what_it_learned(four, tmp_path, family):
    out = tmp_path / "smoke"
    folder = finetune(Job(model=f"tiny:{family}:8", data=[str(four)], recipe=Recipe("sft"),
                          loop=Settings(out=out, max_steps=60, logging_steps=10, save_steps=1000,
                                        warmup=0)))
    assert folder == out and (out / "model.safetensors").is_file()
    losses = [loss for _, loss in _losses(out)]
    assert losses[0] > 3 and losses[-1] < losses[0] / 5
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(next((out / "tensorboard").rglob("events.*"))))
    events.Reload()
    assert {"train/loss", "train/grad_norm", "train/learning_rate", "train/samples_per_second",
            "train/tokens_per_second"} <= set(events.Tags()["scalars"])

    model, processor = load(out)                       # a fresh load of what was saved
    examples, _ = D.read_source(four, D.Rules(max_seconds=8), Problems())
    transcribe(model, processor, load_prompts(str(out)), examples, tmp_path / "hyp.tsv")
    hyps = read_name_text(tmp_path / "hyp.tsv", Problems())
    assert list(hyps) == [ex.id for ex in examples]
    assert sum(hyps[ex.id] == ex.text for ex in examples) >= 3   # one prompt, four answers:
    # the model can only tell the clips apart by their audio


def test_resume_continues_the_step_count(four, tmp_path):
    def job(out: Path, resume: bool = False) -> Job:
        return Job(model="tiny:8", data=[str(four)], recipe=Recipe("full"),
                   loop=Settings(out=out, batch_size=2, max_steps=6, logging_steps=1,
                                 save_steps=2, warmup=0),
                   resume=resume)

    straight = tmp_path / "straight"
    finetune(job(straight))
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == [
        "checkpoint-2", "checkpoint-4", "checkpoint-6"]
    # an "interrupted" run: only what had been written by step 4
    resumed = tmp_path / "resumed"
    shutil.copytree(straight / "tiny-init", resumed / "tiny-init")
    shutil.copytree(straight / "checkpoints" / "checkpoint-4",
                    resumed / "checkpoints" / "checkpoint-4")
    finetune(job(resumed, resume=True))
    state = json.loads(
        (resumed / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert [s for s, _ in _losses(resumed)] == [1, 2, 3, 4, 5, 6]
    for (step, a), (_, b) in zip(_losses(straight), _losses(resumed)):
        assert b == pytest.approx(a, rel=1e-4), step   # steps 5 and 6 continue exactly


def test_lora_adapter_and_merged_checkpoint_agree(four, tmp_path):
    out = tmp_path / "lora"
    finetune(Job(model="tiny:8", data=[str(four)], recipe=Recipe("sft", lora=Lora(r=4)),
                 loop=Settings(out=out, max_steps=3, logging_steps=1, save_steps=1000, lr=1e-2,
                               eval_steps=3),
                 merge_lora=True, eval_data=[str(four)]))
    history = json.loads((out / "train.json").read_text())["log_history"]
    assert [h["step"] for h in history if "eval_loss" in h] == [3]
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert not (out / "adapter_config.json").exists() and (out / "model.safetensors").is_file()
    base, _ = load(out / "tiny-init")
    merged, processor = load(out)
    via_adapter, _ = load(out / "adapter")
    examples, _ = D.read_source(four, D.Rules(max_seconds=8), Problems())
    batch = Collator(processor, load_prompts(str(out)), generation=True)(examples)
    with torch.no_grad():
        logits = [m(**batch).logits for m in (base, merged, via_adapter)]
    assert torch.allclose(logits[1], logits[2], atol=1e-5)
    assert not torch.allclose(logits[0], logits[1], atol=1e-3)     # the adapter did train
    assert load_prompts(str(out)).templates == load_prompts(str(out / "adapter")).templates


def test_the_tiny_model_is_built_with_zero3_init_switched_off(four, tmp_path, monkeypatch):
    """Under --deepspeed with a ZeRO-3 config, TrainingArguments registers its HfDeepSpeedConfig
    globally and transformers' _from_config (which every family's model uses for its towers)
    would build inside deepspeed.zero.Init. deepspeed is not needed to check the switch: a
    stand-in config registered the same way makes is_deepspeed_zero3_enabled() True."""
    from transformers.integrations import (is_deepspeed_zero3_enabled, set_hf_deepspeed_config,
                                           unset_hf_deepspeed_config)

    from train_adapter import finetune as ft

    class ZeRO3:          # what HfTrainerDeepSpeedConfig answers for a stage-3 config
        def is_zero3(self):
            return True

    stand_in = ZeRO3()   # alive for the test: transformers keeps only a weakref
    real_arguments = ft.training_arguments

    def arguments(settings, has_eval):
        args = real_arguments(settings, has_eval)
        args.hf_deepspeed_config = stand_in
        set_hf_deepspeed_config(stand_in)
        return args

    seen = []

    class Built(Exception):
        pass

    def build_tiny(*a, **k):
        seen.append(is_deepspeed_zero3_enabled())
        raise Built   # the rest would need deepspeed itself
    monkeypatch.setattr(ft, "training_arguments", arguments)
    monkeypatch.setattr(ft.modelmod, "build_tiny", build_tiny)
    try:
        with pytest.raises(Built):
            finetune(Job(model="tiny:8", data=[str(four)], recipe=Recipe("sft"),
                         loop=Settings(out=tmp_path / "z3", max_steps=1)))
        assert seen == [False]                  # off while building
        assert is_deepspeed_zero3_enabled()     # and back on for loading and training
    finally:
        unset_hf_deepspeed_config()
