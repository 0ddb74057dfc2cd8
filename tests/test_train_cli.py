"""The commands end to end: curate run demo → train tiny → infer → export-model → cer."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from manifests import Problems, read_manifest, write_manifest
from manifests.rundir import open_run
from manifests.textfile import read_name_text
from tests.cli import fails as _fails
from tests.cli import ok as _ok
from train_adapter.families import by_name

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


def _edits(ref: str, hyp: str) -> int:
    """Levenshtein distance between two strings, by non-space character (--unit char's units:
    a random model's output can hold spaces)."""
    ref, hyp = "".join(ref.split()), "".join(hyp.split())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("demo") / "run"
    _ok(["run", "demo", "--plugins", "vad,short,chunk30,merge30", "--out", str(run),
         "--workers", "1"])
    return run


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"])
def test_run_train_infer_export_cer(demo_run, tmp_path, family):
    run = demo_run
    # what infer and cer read of a run: its manifest, then its eval-only records
    rows = [r for path in open_run(run).files() for r in read_manifest(path)]
    ckpt = tmp_path / "ckpt"
    # the CLI's tiny model has the real 30 s window, so merged windows train as they are
    out = _ok(["train", "--model", f"tiny:{family}", "--data", str(run), "--stage", "sft",
               "--lora", "r=4", "--max-steps", "8", "--logging-steps", "4", "--out", str(ckpt)])
    assert "encoder window utilisation" in out and "LLM padding share" in out
    assert "trainable parameters" in out
    base = json.loads((ckpt / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert json.loads((Path(base) / "config.json").read_text())["model_type"] in \
        by_name(family).model_types
    assert (ckpt / "adapter_config.json").is_file() and (ckpt / "train.json").is_file()

    budget = ["--tokens-per-second", "2"]     # an 8-step model talks until the budget ends
    _ok(["infer", "--model", str(ckpt), "--data", str(run), "--task", "asr", *budget,
         "--out", str(tmp_path / "adapter.tsv")])
    _ok(["export-model", "--model", str(ckpt), "--out", str(tmp_path / "merged")])
    _ok(["infer", "--model", str(tmp_path / "merged"), "--data", str(run), "--task", "asr",
         *budget, "--out", str(tmp_path / "merged.tsv")])
    via_adapter = read_name_text(tmp_path / "adapter.tsv", Problems())
    assert list(via_adapter) == [r.id for r in rows]
    assert read_name_text(tmp_path / "merged.tsv", Problems()) == via_adapter
    scores = tmp_path / "cer"
    from curate.cer.provenance import sidecar_path
    provenance = json.loads(sidecar_path(tmp_path / "adapter.tsv").read_text(encoding="utf-8"))
    assert provenance["model"]["family"] == by_name(family).title
    _ok(["cer", "--ref", str(run), "--hyp", str(tmp_path / "adapter.tsv"), "--unit", "char",
         "--bootstrap", "0", "--out", str(scores)])
    summary = json.loads((scores / "summary.json").read_text(encoding="utf-8"))
    system = summary["systems"]["adapter"]                  # named after the file
    assert summary["reference"]["utterances"] == len(rows)
    assert system["missing"] == 0 and system["hyp_ids_without_reference"]["count"] == 0
    # every scored utterance's errors are the edit distance between its normalised texts
    lines = (scores / "per_utt.tsv").read_text(encoding="utf-8").splitlines()
    scored = [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    assert len(scored) == system["utterances"] > 0
    for row in scored:
        assert int(row["N"]) == len(row["ref"]), row["id"]
        assert int(row["S"]) + int(row["D"]) + int(row["I"]) == _edits(row["ref"], row["hyp"])
    assert system["errors"] == sum(_edits(r["ref"], r["hyp"]) for r in scored)
    assert system["cer"] == pytest.approx(system["errors"] / sum(len(r["ref"]) for r in scored))
    _fails(["infer", "--model", str(ckpt), "--data", str(run), "--out",
            str(tmp_path / "adapter.tsv")], "exists")


def test_refusals_are_clear_errors(tmp_path):
    records = [r for r in read_manifest(DEMO) if 0.5 < r.duration < 8 and r.text][:3]
    sensitive = tmp_path / "eval_only.jsonl"
    write_manifest(sensitive, [replace(r, tags=["sensitive:phone"]) for r in records])
    common = ["--model", "tiny:8", "--max-steps", "2", "--out", str(tmp_path / "x")]
    _fails(["train", "--data", str(sensitive), *common], "tagged sensitive")
    _fails(["train", "--data", str(sensitive), "--stage", "align", "--lora", "r=4", *common],
           "align keeps frozen")
    if not torch.cuda.is_available():
        _fails(["train", "--data", str(sensitive), "--qlora", *common], "needs a CUDA GPU")
    _fails(["train", "--data", str(sensitive), "--resume", *common], "no checkpoint")
    _fails(["train", "--data", str(sensitive), "--optimizer", "lion", *common],
           "--optimizer must be one of adamw, sgd, adamw8bit, got 'lion'")
    _fails(["train", "--data", str(sensitive), "--precision", "fp8", *common],
           "--precision must be one of bf16-mixed, fp16-mixed, bf16, fp32, got 'fp8'")
    if not torch.cuda.is_available():
        _fails(["train", "--data", str(sensitive), "--precision", "fp16-mixed", *common],
               "fp16-mixed needs a CUDA GPU")
    _fails(["infer", "--model", str(tmp_path / "nowhere"), "--data", str(sensitive),
            "--out", str(tmp_path / "h.tsv")], "never downloads")
    _fails(["export-model", "--model", str(tmp_path), "--out", str(tmp_path / "m")],
           "not a LoRA adapter")


@pytest.mark.parametrize("flag", ["--resume", "--overwrite"])
def test_a_second_run_must_resume_or_overwrite(tmp_path, flag):
    records = [r for r in read_manifest(DEMO) if 0.5 < r.duration < 8 and r.text][:4]
    data = tmp_path / "m.jsonl"
    write_manifest(data, records)
    args = ["train", "--model", "tiny:8", "--data", str(data), "--max-steps", "2",
            "--save-steps", "1", "--out", str(tmp_path / "ckpt")]
    _ok(args)
    _fails(args, "--resume")
    marker = tmp_path / "ckpt" / "checkpoints" / "checkpoint-2" / "from-the-first-run"
    marker.touch()
    _ok([*args, "--max-steps", "3", flag])
    steps = sorted(p.name for p in (tmp_path / "ckpt" / "checkpoints").iterdir())
    assert steps == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert marker.exists() == (flag == "--resume")      # resumed, or started over
