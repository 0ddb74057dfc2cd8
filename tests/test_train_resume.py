"""--resume reads a checkpoint's weights into the model being trained, one tensor at a time: the
weights equal the checkpoint's bit for bit, in every family's saved key layout, and no second
model is built."""
from __future__ import annotations

import json
import shutil
import weakref
from pathlib import Path

import pytest
import safetensors
import torch
from safetensors.torch import load_file, save_file

from manifests import read_manifest, write_manifest
from train_adapter.families import by_name
from train_adapter.finetune import Job, finetune
from train_adapter.model import build_tiny, load
from train_adapter.recipe import Recipe
from train_adapter.trainer import AdapterTrainer, Settings, load_checkpoint_weights

FAMILIES = ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"]
TEXTS = ["给老王发微信说我晚点到", "呼叫李经理", "拒接这个电话"]
DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


@pytest.fixture(scope="module", params=FAMILIES)
def saved(request, tmp_path_factory):
    """(family, tiny-init folder, checkpoint folder of other weights, those weights by name)."""
    folder = tmp_path_factory.mktemp(request.param)
    init = build_tiny(folder / "init", TEXTS, window=8, family=by_name(request.param))
    model, processor = load(init)
    torch.manual_seed(1)
    with torch.no_grad():          # "trained": every weight moved, the tie kept
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model.save_pretrained(folder / "ckpt")
    processor.save_pretrained(str(folder / "ckpt"))
    return request.param, init, folder / "ckpt", dict(model.state_dict())


def _no_second_model(monkeypatch):
    """Any from_pretrained (of any class) while loading fails the test."""
    from transformers import PreTrainedModel

    def refuse(*a, **k):
        raise AssertionError("a second model was built")
    for cls in (PreTrainedModel, *(by_name(f).model_class for f in FAMILIES)):
        monkeypatch.setattr(cls, "from_pretrained", classmethod(refuse))


def _assert_bit_equal(model, weights: dict) -> None:
    state = model.state_dict()
    assert state.keys() == weights.keys()
    for name, tensor in state.items():
        assert tensor.dtype == weights[name].dtype and torch.equal(tensor, weights[name]), name


def test_resumed_weights_equal_the_checkpoint_bit_for_bit(saved, monkeypatch):
    family, init, ckpt, weights = saved
    model, _ = load(init)
    if family == "qwen2_audio":    # the saved layout is not the module layout here
        saved_keys = set(load_file(ckpt / "model.safetensors"))
        assert not saved_keys & set(model.state_dict())
    before = {id(p): p for p in model.parameters()}
    _no_second_model(monkeypatch)
    load_checkpoint_weights(model, ckpt)
    _assert_bit_equal(model, weights)
    assert {id(p): p for p in model.parameters()} == before   # the same tensors, filled in
    if family == "qwen3_asr":      # lm_head is the embedding, saved once
        embed = model.get_input_embeddings().weight
        assert model.lm_head.weight is embed
        assert "lm_head.weight" not in load_file(ckpt / "model.safetensors")


def test_one_tensor_at_a_time_from_a_sharded_checkpoint(saved, tmp_path, monkeypatch):
    """Through the index of a sharded checkpoint; at most one tensor read from the files is
    alive at any moment (the peak extra memory is one tensor)."""
    family, init, ckpt, weights = saved
    model, _ = load(ckpt)
    sharded = tmp_path / "sharded"
    model.save_pretrained(sharded, max_shard_size="200KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert len(list(sharded.glob("model-*.safetensors"))) > 1
    del model

    alive, peak = set(), [0]
    real_open = safetensors.safe_open

    class Counted:
        def __init__(self, *a, **k):
            self.inner = real_open(*a, **k)

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def keys(self):
            return self.inner.keys()

        def get_tensor(self, key):
            tensor = self.inner.get_tensor(key)
            token = object()
            alive.add(token)
            peak[0] = max(peak[0], len(alive))
            weakref.finalize(tensor, alive.discard, token)
            return tensor

    monkeypatch.setattr(safetensors, "safe_open", Counted)
    fresh, _ = load(init)
    _no_second_model(monkeypatch)
    load_checkpoint_weights(fresh, sharded)
    _assert_bit_equal(fresh, weights)
    assert peak[0] == 1


def test_a_checkpoint_missing_a_weight_is_refused_with_its_name(saved, tmp_path):
    family, init, ckpt, _ = saved
    tensors = load_file(ckpt / "model.safetensors")
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    broken = tmp_path / "broken"
    broken.mkdir()
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    model, _ = load(init)
    with pytest.raises(ValueError, match=r"missing \(1\): ") as e:
        load_checkpoint_weights(model, broken)
    named = str(e.value).split("missing (1): ")[1].split(";")[0]
    assert named in model.state_dict() and named.endswith(dropped)   # its name in the model

    tensors[dropped + "_extra"] = torch.zeros(1)
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="unexpected"):
        load_checkpoint_weights(model, broken)


def test_the_trainer_resumes_through_it_without_a_second_model(tmp_path, monkeypatch):
    """A real --resume: AdapterTrainer._load_from_checkpoint builds no model, and the weights it
    resumes from are checkpoint-2's."""
    records = [r for r in read_manifest(DEMO) if 1 < r.duration < 6 and r.text][:4]
    manifest = tmp_path / "four.jsonl"
    write_manifest(manifest, records)

    def job(out: Path, resume: bool = False) -> Job:
        return Job(model="tiny:qwen3_asr:8", data=[str(manifest)], recipe=Recipe("full"),
                   loop=Settings(out=out, batch_size=2, max_steps=3, logging_steps=1,
                                 save_steps=2, warmup=0), resume=resume)

    first = tmp_path / "first"
    finetune(job(first))
    resumed = tmp_path / "resumed"
    shutil.copytree(first / "tiny-init", resumed / "tiny-init")
    shutil.copytree(first / "checkpoints" / "checkpoint-2",
                    resumed / "checkpoints" / "checkpoint-2")
    at_resume = {}
    real = AdapterTrainer._load_from_checkpoint

    def watched(self, folder, model=None):
        with monkeypatch.context() as m:
            _no_second_model(m)
            real(self, folder, model)
        at_resume.update({k: v.clone() for k, v in self.model.state_dict().items()})
    monkeypatch.setattr(AdapterTrainer, "_load_from_checkpoint", watched)
    finetune(job(resumed, resume=True))
    checkpoint, _ = load(first / "checkpoints" / "checkpoint-2")
    _assert_bit_equal(checkpoint, at_resume)
    state = json.loads((resumed / "checkpoints" / "checkpoint-3" / "trainer_state.json")
                       .read_text())
    assert state["global_step"] == 3
