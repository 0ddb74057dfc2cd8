"""The training flags: per-component learning rates, scheduler, clipping, weight decay, LoRA
targets, loggers, the 8-bit optimizer, and --config files (the command line wins)."""
from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest
import torch

from manifests import read_manifest, write_manifest
from tests.cli import fails as _fails
from tests.cli import ok as _ok
from train_adapter.finetune import prepare_model
from train_adapter.model import build_tiny, family_of
from train_adapter.precision import device_precision
from train_adapter.recipe import Lora, Recipe, apply
from train_adapter.trainer import Settings, build_trainer, training_arguments

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> Path:
    records = [r for r in read_manifest(DEMO) if 1 < r.duration < 5 and r.text][:4]
    manifest = tmp_path_factory.mktemp("four") / "manifest.jsonl"
    write_manifest(manifest, records)
    return manifest


@pytest.fixture(scope="module")
def tiny(four, tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "m",
                      [r.text for r in read_manifest(four)], window=8)


def test_encoder_and_projector_learning_rates_get_their_own_groups(tiny, tmp_path):
    settings = Settings(out=tmp_path, lr=1e-3, encoder_lr=1e-4, projector_lr=2e-4,
                        weight_decay=0.1, optimizer="sgd", num_workers=0)
    model, processor = prepare_model(tiny, Recipe("full"), device_precision("fp32"))
    trainer = build_trainer(model, processor, [], None, [], training_arguments(settings, False),
                            settings=settings)
    optimizer = trainer.create_optimizer()
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    lrs = {"encoder": 1e-4, "projector": 2e-4, "LLM": 1e-3}
    seen = set()
    component = family_of(model).component
    for name, p in model.named_parameters():
        if not p.requires_grad:
            assert id(p) not in group_of
            continue
        group = group_of[id(p)]
        assert group["lr"] == lrs[component(name)], name
        no_decay = name.endswith("bias") or "norm" in name.lower()
        assert group["weight_decay"] == (0.0 if no_decay else 0.1), name
        seen.add(component(name))
    assert seen == set(lrs)


def test_lora_targets_choose_the_adapted_layers_and_unknown_ones_are_refused(tiny, four,
                                                                             tmp_path):
    from train_adapter.model import load

    model = apply(load(tiny)[0], Recipe("sft", lora=Lora(r=2), lora_targets=("q_proj", "v_proj")))
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[-1]
               for n, _ in model.named_parameters() if "lora_" in n}
    assert adapted == {"q_proj", "v_proj"}
    common = ["train", "--model", "tiny:8", "--data", str(four), "--max-steps", "1",
              "--out", str(tmp_path / "x")]
    _fails([*common, "--lora", "r=2", "--lora-targets", "q_proj,bogus"],
           "--lora-targets: bogus is not a linear layer of the LLM; valid: down_proj, "
           "gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj")
    _fails([*common, "--lora-targets", "q_proj"], "--lora-targets chooses where LoRA adapters "
                                                  "go: add --lora")


def test_refusals(four, tmp_path, monkeypatch):
    common = ["train", "--model", "tiny:8", "--data", str(four), "--max-steps", "1",
              "--out", str(tmp_path / "x")]
    if not torch.cuda.is_available():
        _fails([*common, "--optimizer", "adamw8bit"], "adamw8bit is bitsandbytes' 8-bit AdamW, "
                                                      "which needs a CUDA GPU")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    _fails([*common, "--report-to", "wandb"],
           "set WANDB_MODE=offline" if importlib.util.find_spec("wandb")
           else "needs the wandb package")
    _fails([*common, "--save-best", "cer"], "--save-best and --early-stop follow an eval metric")
    _fails([*common, "--save-best", "wer"], "--save-best must be one of cer, loss, got 'wer'")
    _fails([*common, "--lr-scheduler", "step"], "--lr-scheduler must be one of cosine, linear")
    _fails([*common, "--early-stop", "0"], "--early-stop must be >= 1")
    assert not (tmp_path / "x" / "checkpoints").exists()


def _toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_fills_the_flags_the_command_line_overrides_and_the_result_is_saved(four,
                                                                                 tmp_path):
    out = tmp_path / "ckpt"
    config = _toml(tmp_path / "train.toml", f"""
model = "tiny:8"
data = [{json.dumps(str(four))}]
out = {json.dumps(str(out))}
max-steps = 3
batch-size = 2
logging-steps = 1
lr = 0.001
warmup = 0
lr-scheduler = "constant"
max_grad_norm = 0.5
weight-decay = 0.01
optimizer = "sgd"
""")
    _ok(["train", "--config", str(config), "--max-steps", "2"])
    record = json.loads((out / "train.json").read_text(encoding="utf-8"))
    assert record["global_step"] == 2                              # the flag won
    settings = record["settings"]
    assert (settings["lr_scheduler"], settings["max_grad_norm"], settings["weight_decay"],
            settings["optimizer"], settings["batch_size"]) == ("constant", 0.5, 0.01, "sgd", 2)
    assert [h["learning_rate"] for h in record["log_history"] if "loss" in h] == [0.001] * 2
    saved = tomllib.loads((out / "train_config.toml").read_text(encoding="utf-8"))
    assert saved["max-steps"] == 2 and saved["lr-scheduler"] == "constant"
    assert saved["data"] == [str(four)] and saved["max-grad-norm"] == 0.5
    assert "config" not in saved
    assert "resume" not in saved and "overwrite" not in saved   # a replay never deletes/resumes

    again = tmp_path / "again"                     # the saved file runs the same job again
    _ok(["train", "--config", str(out / "train_config.toml"), "--out", str(again)])
    repeat = json.loads((again / "train.json").read_text(encoding="utf-8"))
    assert repeat["global_step"] == 2
    assert {k: v for k, v in repeat["settings"].items() if k != "out"} == \
        {k: v for k, v in settings.items() if k != "out"}


def test_a_bad_config_is_an_error_naming_the_key(four, tmp_path):
    common = ["train", "--model", "tiny:8", "--data", str(four), "--out", str(tmp_path / "x")]
    _fails([*common, "--config", str(_toml(tmp_path / "a.toml", "max_stpes = 3\n"))],
           "unknown option 'max_stpes'; valid:")
    _fails([*common, "--config", str(_toml(tmp_path / "b.toml", 'max-steps = "many"\n'))],
           "b.toml: max-steps:")
    _fails([*common, "--config", str(_toml(tmp_path / "c.toml", "max-steps = [\n"))],
           "c.toml")
    _fails(["train", "--config", str(_toml(tmp_path / "d.toml", "max-steps = 1\n"))],
           "missing --model (on the command line or in --config)")
