"""Two-process DDP on the CPU (gloo) under torchrun applies the one-process gradients, the
epoch's uneven last step included."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from manifests import read_manifest, write_manifest
from tests.test_train_loss import (STEP_ROWS, applied_gradients, assert_same_gradients,
                                   assert_same_logs, assert_same_sgd_weights, step_rounding)
from train_adapter.finetune import Job, finetune
from train_adapter.model import load
from train_adapter.recipe import Recipe
from train_adapter.trainer import Settings

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "curate" / "demo" / "manifest.jsonl"


def _train(data: list[str], out: Path, batch_size: int) -> Path | None:
    """One epoch of plain SGD (see test_train_loss): the weights of the two runs stay
    comparable."""
    return finetune(Job(model="tiny:8", data=data, recipe=Recipe("full"), task="correct",
                        loop=Settings(out=out, batch_size=batch_size, epochs=1,
                                      logging_steps=1, lr=0.1, warmup=0, optimizer="sgd")))


def _worker(out: Path, data: list[str]) -> None:
    """One process of the torchrun job: trains, and keeps its applied gradients and what
    ``finetune`` returned to it."""
    with applied_gradients() as grads:
        folder = _train(data, out, batch_size=STEP_ROWS // 2)
    rank = int(os.environ["RANK"])
    torch.save({"grads": grads, "folder": folder and str(folder)}, out / f"rank{rank}.pt")


def _logs(out: Path) -> list[dict]:
    history = json.loads((out / "train.json").read_text())["log_history"]
    return [h for h in history if "loss" in h]


def test_two_process_ddp_matches_one_process(tmp_path):
    labelled = [r for r in read_manifest(DEMO) if r.text and r.hyp]
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, [r for r in labelled if 2 < r.duration < 8][:6])
    # text-only pairs are far shorter than rows with 2+ s of audio (50+ audio tokens), so length
    # grouping puts them last: step 2 gives one process audio and the other only text (it needs
    # the silent clip, as the encoder trains in stage full); steps 3-4 are text-only on both.
    # 14 examples make 7 batches of 2 for 2 processes: step 4 has two real rows, for process 0,
    # and process 1 gets the two weightless rows that fill it (accelerate's own padding would
    # train process 1 on copies of the epoch's first rows, and step 4 would differ)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"t{i}\t{r.hyp}\t{r.text}\n" for i, r in enumerate(labelled[:8])),
                     "utf-8")
    data = [str(manifest), str(pairs)]
    ddp_out = tmp_path / "ddp"
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "tests.test_train_ddp", str(ddp_out), *data],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    ranks = [torch.load(ddp_out / f"rank{r}.pt") for r in (0, 1)]
    assert [r["folder"] for r in ranks] == [str(ddp_out), None]   # one process reports

    with applied_gradients() as grads:
        _train(data, tmp_path / "one", batch_size=STEP_ROWS)
    one, two = _logs(tmp_path / "one"), _logs(ddp_out)
    assert len(one) == len(grads) == 4
    initial, processor = load(tmp_path / "one" / "tiny-init")
    bound = step_rounding(processor)
    assert_same_logs(one, two, bound)                     # 2 × 2 rows = 1 × 4 rows
    for rank in ranks:                                    # DDP gave both the same sum
        assert_same_gradients(grads, rank["grads"], bound)
    trained, _ = load(ddp_out)
    single, _ = load(tmp_path / "one")
    assert_same_sgd_weights(single.state_dict(), trained.state_dict(), initial.state_dict(), one,
                            grads, bound)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), sys.argv[2:])
