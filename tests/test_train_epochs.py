"""Several epochs through the Trainer: each one trains on its own draw of the mixture."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from train_adapter import collator as C
from train_adapter.finetune import Job, finetune
from train_adapter.recipe import Recipe
from train_adapter.trainer import Settings


def _pairs(path: Path, prefix: str, n: int) -> Path:
    path.write_text("".join(f"{prefix}{i}\t打开空掉{i}\t打开空调{i}\n" for i in range(n)), "utf-8")
    return path


def test_each_epoch_trains_on_a_new_draw_of_a_down_weighted_source(tmp_path, monkeypatch):
    """12 pairs at weight 0.5 next to 4 at 1.5: 4 of the 12 per epoch (16 × 0.5 / 2), so three
    epochs see all 12 once. A mixture drawn once per run would show the same 4 three times."""
    seen: list[str] = []
    call = C.Collator.__call__

    def recording(self, examples):
        seen.extend(ex.id for ex in examples if not ex.weightless)
        return call(self, examples)

    monkeypatch.setattr(C.Collator, "__call__", recording)
    small = _pairs(tmp_path / "small.tsv", "s", 12)
    big = _pairs(tmp_path / "big.tsv", "b", 4)
    out = tmp_path / "run"
    finetune(Job(model="tiny:8", data=[f"{small}:0.5", f"{big}:1.5"], recipe=Recipe("sft"),
                 task="correct",
                 loop=Settings(out=out, batch_size=4, epochs=3, logging_steps=1, warmup=0)))
    steps = json.loads((out / "train.json").read_text())["global_step"]
    assert steps == 12                                   # 16 per epoch, 4 per step, 3 epochs
    small_ids = [i for i in seen if i.startswith("s")]
    assert Counter(small_ids) == Counter({f"s{k}": 1 for k in range(12)})
    assert Counter(i for i in seen if i.startswith("b")) == Counter(
        {f"b{k}": 9 for k in range(4)})                  # 12 per epoch: three passes of 4
