"""One process on several GPUs is refused (the Trainer would run nn.DataParallel)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from train_adapter.finetune import Job, TrainError, check_launch, finetune
from train_adapter.recipe import Recipe
from train_adapter.trainer import Settings

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


def test_several_gpus_need_one_process_each():
    command = ["train", "--model", "/models/Qwen2-Audio-7B", "--data", "runs/my run", "--out", "o"]
    with pytest.raises(TrainError) as e:
        check_launch(4, {}, command)
    assert ("torchrun --nproc_per_node 4 -m curate train --model /models/Qwen2-Audio-7B "
            "--data 'runs/my run' --out o") in str(e.value)
    assert "CUDA_VISIBLE_DEVICES=0 curate train" in str(e.value)
    with pytest.raises(TrainError, match="torchrun --nproc_per_node 2 -m curate train ..."):
        check_launch(2, {"WORLD_SIZE": "1"})          # torchrun with one process: still DP
    check_launch(4, {"WORLD_SIZE": "4", "RANK": "0"})   # a launcher: one GPU per process
    check_launch(1, {})
    check_launch(0, {})


def test_finetune_refuses_before_reading_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(TrainError, match="2 GPUs are visible to one process"):
        finetune(Job(model="tiny:8", data=[str(DEMO)], recipe=Recipe("sft"),
                     loop=Settings(out=tmp_path / "out")))
    assert not (tmp_path / "out").exists()
