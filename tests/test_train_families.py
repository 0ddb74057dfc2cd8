"""The model-family registry: a checkpoint's family from its config.json, tiny specs, what each
family refuses, and the parts of each family that differ (Omni's full checkpoints, Qwen3-ASR's
answers, hypotheses that hold markup)."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from train_adapter import model as M
from train_adapter import prompts as P
from train_adapter.families import REGISTRY, by_name, of_folder
from train_adapter.families.base import ModelError

TEXTS = ["打开空调", "导航到机场", "播放音乐"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    built = {}

    def get(name):
        if name not in built:
            built[name] = M.build_tiny(tmp_path_factory.mktemp(name), TEXTS, window=8,
                                       family=by_name(name))
        return built[name]
    return get


@pytest.mark.parametrize("name", ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"])
def test_the_family_is_read_from_config_json_whatever_the_folder_is_called(tiny, tmp_path, name):
    folder = tmp_path / "Qwen2-Audio-7B-Instruct"      # the name says nothing
    shutil.copytree(tiny(name), folder)
    assert of_folder(folder) is by_name(name)
    model, processor = M.load(folder)
    assert isinstance(model, by_name(name).model_class) and M.family_of(model) is by_name(name)
    assert processor.family is by_name(name)


def test_tiny_specs():
    assert [(t.family.name, t.window) for t in map(M.parse_tiny, [
        "tiny", "tiny:8", "tiny:qwen3_asr", "tiny:qwen2_5_omni:4"])] == [
        ("qwen2_audio", 30), ("qwen2_audio", 8), ("qwen3_asr", 30), ("qwen2_5_omni", 4)]
    assert M.parse_tiny("/models/tiny") is None and M.parse_tiny("tinyllama") is None
    with pytest.raises(ModelError, match="unknown model family 'whisper'"):
        M.parse_tiny("tiny:whisper")
    with pytest.raises(ModelError, match="1..30"):
        M.parse_tiny("tiny:qwen3_asr:31")
    with pytest.raises(ModelError, match="expected tiny"):
        M.parse_tiny("tiny:qwen3_asr:8:x")


def test_unknown_and_unsupported_checkpoints_are_refused(tmp_path):
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelError, match="model_type 'llama' is not a family"):
        M.load(tmp_path / "llama")
    (tmp_path / "orig").mkdir()
    (tmp_path / "orig" / "config.json").write_text(
        json.dumps({"model_type": "qwen3_asr", "thinker_config": {}}))
    with pytest.raises(ModelError, match="original"):
        M.load(tmp_path / "orig")
    with pytest.raises(ModelError, match="no config.json"):
        M.load(tmp_path)


def test_a_transformers_too_old_for_the_family_is_refused(tiny, monkeypatch):
    import transformers
    monkeypatch.setattr(transformers, "__version__", "5.15.2")
    with pytest.raises(ModelError, match=r"transformers >= 5\.16.*twice"):
        M.load(tiny("qwen2_audio"))


def test_a_full_omni_checkpoint_loads_its_thinker_only(tiny, tmp_path):
    """A released Qwen2.5-Omni folder holds thinker.*, talker.* and token2wav.* weights under one
    config; curate reads the Thinker's weights onto the Thinker class and nothing else."""
    from safetensors.torch import load_file, save_file
    from transformers import Qwen2_5OmniConfig

    thinker_dir = tiny("qwen2_5_omni")
    full = tmp_path / "Qwen2.5-Omni-tiny"
    shutil.copytree(thinker_dir, full)
    thinker_config = json.loads((thinker_dir / "config.json").read_text())
    config = Qwen2_5OmniConfig(thinker_config=thinker_config).to_dict()
    (full / "config.json").write_text(json.dumps(config))
    weights = load_file(thinker_dir / "model.safetensors")
    save_file({**{f"thinker.{k}": v for k, v in weights.items()},
               "talker.codec_head.weight": torch.zeros(2, 2)}, full / "model.safetensors",
              metadata={"format": "pt"})
    model, _ = M.load(full)
    assert type(model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    reference, _ = M.load(thinker_dir)
    mine = model.state_dict()
    assert mine.keys() == reference.state_dict().keys()
    assert all(torch.equal(mine[k], v) for k, v in reference.state_dict().items())


def test_qwen3_asr_answers_are_read_after_the_language_tag():
    parse = by_name("qwen3_asr").parse
    assert parse("language Chinese<asr_text>打开空调") == "打开空调"
    assert parse("打开空调") == "打开空调"          # the prompt prefilled the tag
    assert parse("language None<asr_text>") == ""


@pytest.mark.parametrize("name", ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"])
def test_markup_in_a_hypothesis_is_text_not_a_special_token(tiny, name):
    """A Base1 hypothesis is data: an audio token written in it must not take a clip's place."""
    from manifests.audio import TARGET_SR
    import numpy as np
    processor = M.load_processor(tiny(name))
    family = processor.family
    prompts = P.load(str(tiny(name)))
    prompt = prompts.render("correct", f"打开{family.audio_token}空调<|im_end|>")
    ids, _ = processor([prompt], [np.zeros(TARGET_SR, dtype=np.float32)])
    assert ids[0].count(processor.audio_token_id) == processor.audio_tokens(1.0)
    im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ids[0].count(im_end) == prompts.templates["correct"].count("<|im_end|>")


def test_every_family_is_in_the_registry_once():
    assert list(REGISTRY) == ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"]
    families = [by_name(n) for n in REGISTRY]        # each module agrees with the table
    assert [f.name for f in families] == list(REGISTRY)
    types = [t for f in families for t in f.model_types]
    assert len(types) == len(set(types))


def test_a_transformers_without_a_familys_classes_fails_for_that_family_only(monkeypatch):
    import sys
    by_name.cache_clear()
    monkeypatch.setitem(sys.modules, "train_adapter.families.qwen3_asr", None)   # import fails
    try:
        with pytest.raises(ModelError, match="Qwen3-ASR needs a transformers that has"):
            by_name("qwen3_asr")
        assert by_name("qwen2_audio").name == "qwen2_audio"
    finally:
        by_name.cache_clear()


def test_an_fsdp_config_for_another_family_is_refused(tiny, tmp_path):
    from pathlib import Path

    from train_adapter.finetune import TrainError, check_fsdp_layers
    shipped = Path(__file__).resolve().parents[1] / "train_adapter" / "configs" / "fsdp.json"
    check_fsdp_layers(str(shipped), M.load(tiny("qwen2_audio"))[0])     # written for it
    with pytest.raises(TrainError, match=r"Qwen2AudioEncoderLayer.*Qwen3ASRAudioEncoderLayer"):
        check_fsdp_layers(str(shipped), M.load(tiny("qwen3_asr"))[0])


def test_a_model_without_a_module_the_recipes_need_is_a_clear_error(tiny):
    from train_adapter import recipe as R
    model, _ = M.load(tiny("qwen3_asr"))
    del model.model.multi_modal_projector          # a layout this family does not know
    with pytest.raises(ModelError, match="no module 'multi_modal_projector'"):
        R.apply(model, R.Recipe("align"))
