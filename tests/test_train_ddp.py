"""Two-process DDP on the CPU (gloo) under torchrun gives exactly the one-process losses."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from manifests import read_manifest, write_manifest
from train_adapter.finetune import Job, finetune
from train_adapter.recipe import Recipe
from train_adapter.trainer import Settings

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


def _losses(out: Path) -> list[tuple[float, float]]:
    history = json.loads((out / "train.json").read_text())["log_history"]
    return [(h["loss"], h["grad_norm"]) for h in history if "loss" in h]


def test_two_process_ddp_matches_one_process(tmp_path):
    curate = shutil.which("curate", path=str(Path(sys.executable).parent))
    assert curate, "the curate console script is not installed in this environment"
    labelled = [r for r in read_manifest(DEMO) if r.text and r.hyp]
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, [r for r in labelled if 2 < r.duration < 8][:6])
    # text-only pairs are far shorter than rows with 2+ s of audio (50+ audio tokens), so length
    # grouping puts them last: step 2 gives one process audio and the other only text (it needs
    # the silent clip, as the encoder trains in stage full); steps 3-4 are text-only on both
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"t{i}\t{r.hyp}\t{r.text}\n" for i, r in enumerate(labelled[:10])),
                     "utf-8")
    data = [str(manifest), str(pairs)]
    common = ["--model", "tiny:8", "--data", data[0], "--data", data[1], "--task", "correct",
              "--stage", "full", "--max-steps", "4", "--logging-steps", "1", "--lr", "3e-3",
              "--warmup", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "--no-python", curate, "train", *common, "--batch-size", "2",
         "--out", str(tmp_path / "ddp")],
        env=env, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.strip().splitlines() == [str(tmp_path / "ddp")]   # one process reports

    finetune(Job(model="tiny:8", data=data, recipe=Recipe("full"), task="correct",
                 loop=Settings(out=tmp_path / "one", batch_size=4, max_steps=4, logging_steps=1,
                               lr=3e-3, warmup=0)))
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "ddp")
    assert len(one) == len(two) == 4
    for (loss1, norm1), (loss2, norm2) in zip(one, two):
        assert loss2 == pytest.approx(loss1, rel=1e-5)    # 2 × 2 rows = 1 × 4 rows, exactly
        assert norm2 == pytest.approx(norm1, rel=1e-4)
    assert (tmp_path / "ddp" / "model.safetensors").is_file()
