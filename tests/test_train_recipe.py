"""Each stage's trainable set is exactly as specified, for every family (checked against
parameter names written out here, not against the families' own module handles)."""
from __future__ import annotations

import re

import pytest
import torch

from train_adapter import model as M
from train_adapter import recipe as R
from train_adapter.families import by_name

ENC = "model.audio_tower."
LLM = ("model.language_model.", "lm_head.")
# per family: the projector's parameters, the encoder's final norm, what no recipe trains
SPEC = {
    "qwen2_audio": {"projector": ("model.multi_modal_projector.",), "norm": "layer_norm.",
                    "frozen": ("model.audio_tower.embed_positions.",)},
    "qwen2_5_omni": {"projector": ("model.audio_tower.proj.",), "norm": "ln_post.",
                     "frozen": ("model.visual.",)},
    "qwen3_asr": {"projector": ("model.multi_modal_projector.",), "norm": "ln_post.",
                  "frozen": ()},
}


@pytest.fixture(scope="module", params=list(SPEC))
def family(request):
    return request.param


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, family):
    return M.build_tiny(tmp_path_factory.mktemp(family), ["打开空调", "导航到机场", "播放音乐"],
                        window=8, family=by_name(family))


@pytest.fixture(scope="module")
def names(tiny_dir) -> list[str]:
    model, _ = M.load(tiny_dir)
    return [n for n, _ in model.named_parameters()]


def _trained(tiny_dir, recipe: R.Recipe):
    model, _ = M.load(tiny_dir)
    model = R.apply(model, recipe)
    return model, {n for n, p in model.named_parameters() if p.requires_grad}


def _expect(names, keep) -> set[str]:
    return {n for n in names if keep(n)}


def _sets(names, family):
    spec = SPEC[family]
    projector = _expect(names, lambda n: n.startswith(spec["projector"]))
    frozen = _expect(names, lambda n: n.startswith(spec["frozen"])) if spec["frozen"] else set()
    encoder = _expect(names, lambda n: n.startswith(ENC)) - projector - frozen
    return encoder, projector, frozen


def test_align_sft_full(tiny_dir, names, family):
    encoder, projector, frozen = _sets(names, family)
    llm = _expect(names, lambda n: n.startswith(LLM))
    assert encoder and projector and llm
    assert names and encoder | projector | llm | frozen == set(names)
    assert len(encoder | projector | llm) == len(names) - len(frozen)

    model, trained = _trained(tiny_dir, R.Recipe("align"))
    assert trained == encoder | projector and R.audio_path_trainable(model)
    model, trained = _trained(tiny_dir, R.Recipe("sft"))
    assert trained == llm and not R.audio_path_trainable(model)
    _, trained = _trained(tiny_dir, R.Recipe("full"))
    assert trained == encoder | projector | llm


def test_partial_encoder(tiny_dir, names, family):
    _, projector, _ = _sets(names, family)
    norm = ENC + SPEC[family]["norm"]
    _, trained = _trained(tiny_dir, R.Recipe("align", encoder_layers=1))
    assert trained == projector | _expect(
        names, lambda n: n.startswith((ENC + "layers.1.", norm)))
    _, trained = _trained(tiny_dir, R.Recipe("align", encoder_layers=1, encoder_attn_only=True))
    assert trained == projector | _expect(
        names, lambda n: n.startswith(ENC + "layers.1.self_attn."))
    _, trained = _trained(tiny_dir, R.Recipe("full", encoder_attn_only=True))
    attn = _expect(names, lambda n: re.match(r"model\.audio_tower\.layers\.\d+\.self_attn\.", n))
    assert trained == projector | attn | _expect(names, lambda n: n.startswith(LLM))
    with pytest.raises(R.RecipeError, match="only 2 layers"):
        _trained(tiny_dir, R.Recipe("align", encoder_layers=3))


def test_lora_targets_only_the_llm_linears(tiny_dir):
    model, trained = _trained(tiny_dir, R.Recipe("sft", lora=R.Lora(r=4, alpha=8)))
    assert trained and all("lora_" in n for n in trained)
    assert not any("audio_tower" in n or "visual" in n
                   for n, _ in model.named_parameters() if "lora_" in n)
    adapted = {re.search(r"layers\.(\d+)\.\w+\.(\w+)\.lora_([AB])", n).groups() for n in trained}
    assert adapted == {(layer, proj, ab) for layer in "01" for ab in "AB" for proj in
                       ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj")}
    table = dict((part, (total, train)) for part, total, train in R.trainable_table(model))
    assert table["encoder"][1] == table["projector"][1] == table["LLM"][1] == 0
    assert table["LoRA"][1] == sum(p.numel() for n, p in model.named_parameters() if n in trained)


def test_full_with_lora_trains_the_saved_encoder_copy(tiny_dir, names, family):
    model, trained = _trained(tiny_dir, R.Recipe("full", lora=R.Lora(r=4), encoder_layers=1))
    lora = {n for n in trained if "lora_" in n}
    # the trained copies, named as in the plain model
    rest = {n.replace(".modules_to_save.default.", ".").replace("base_model.model.", "")
            for n in trained - lora}
    _, projector, _ = _sets(names, family)
    assert lora and all("language_model" in n for n in lora)
    assert rest == projector | _expect(
        names, lambda n: n.startswith((ENC + "layers.1.", ENC + SPEC[family]["norm"])))
    assert R.audio_path_trainable(model)
    counted = dict((part, total) for part, total, _ in R.trainable_table(model))
    encoder, _, frozen = _sets(names, family)
    plain = dict(M.load(tiny_dir)[0].named_parameters())
    assert counted["encoder"] == sum(plain[n].numel() for n in encoder
                                     | (frozen if family == "qwen2_audio" else set()))


def test_impossible_combinations_are_refused():
    with pytest.raises(R.RecipeError, match="align keeps frozen"):
        R.Recipe("align", lora=R.Lora())
    with pytest.raises(R.RecipeError, match="sft keeps the encoder frozen"):
        R.Recipe("sft", encoder_layers=2)
    with pytest.raises(R.RecipeError, match="--stage"):
        R.Recipe("pretrain")
    assert R.parse_lora("r=8,dropout=0.1") == R.Lora(r=8, alpha=32, dropout=0.1)
    assert R.parse_lora("") == R.Lora()
    with pytest.raises(R.RecipeError):
        R.parse_lora("rank=8")
    assert R.parse_encoder_layers("last:4") == 4 and R.parse_encoder_layers("all") is None
    with pytest.raises(R.RecipeError):
        R.parse_encoder_layers("first:2")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
def test_qlora_without_cuda_is_a_clear_error():
    recipe = R.Recipe("sft", qlora=True)
    assert recipe.lora == R.Lora()
    with pytest.raises(R.RecipeError, match="CUDA GPU"):
        R.qlora_config(torch.bfloat16, by_name("qwen2_audio"))


def test_the_trainable_table_counts_zero3_partitioned_parameters(tiny_dir):
    """ZeRO-3 leaves each process an empty tensor (numel 0) and the full size in ds_numel."""
    model = R.apply(M.load(tiny_dir)[0], R.Recipe("full", lora=R.Lora(r=2)))
    whole = R.trainable_table(model)
    for p in model.parameters():
        p.ds_numel = p.numel()
        p.data = torch.empty(0, dtype=p.dtype)
    assert R.trainable_table(model) == whole
    assert all(total > 0 for _, total, _ in whole)
