"""Merging a LoRA adapter: in float32, then cast to the base's dtype."""
from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from train_adapter.model import build_tiny, load
from train_adapter.recipe import LORA_TARGETS, lora_pattern


def test_a_small_delta_on_a_bf16_base_is_merged_in_fp32_then_cast(tmp_path):
    """ΔW near a bf16 ulp of W (|W| ≈ 0.02: ulp 1.2e-4). Merged in bf16 (the adapter held in
    bf16, as PEFT does when it does not upcast adapters), ΔW is rounded to bf16 before the sum is
    rounded again, which moves some weights to the wrong neighbour; merged in float32 and cast,
    each weight is W + ΔW rounded once: exactly the float32 merge, cast."""
    tiny = build_tiny(tmp_path / "tiny", ["打开空调", "导航到机场"], window=8)
    model, processor = load(tiny, dtype=torch.bfloat16)
    base = tmp_path / "base-bf16"
    model.save_pretrained(base)
    processor.save_pretrained(base)

    torch.manual_seed(0)
    peft_model = get_peft_model(load(base, dtype="auto")[0],
                                LoraConfig(r=4, lora_alpha=8,
                                           target_modules=lora_pattern(LORA_TARGETS)))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            p.data = torch.randn_like(p, dtype=torch.float32) * 3e-4
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    processor.save_pretrained(adapter)

    merged, _ = load(adapter, dtype="auto")
    fp32_base, _ = load(base)                             # the bf16 values, exactly, in fp32
    reference = PeftModel.from_pretrained(fp32_base, str(adapter)).merge_and_unload()
    expected = {n: t.to(torch.bfloat16) for n, t in reference.state_dict().items()}
    bf16_merge = PeftModel.from_pretrained(load(base, dtype="auto")[0], str(adapter),
                                           autocast_adapter_dtype=False
                                           ).merge_and_unload().state_dict()
    got = merged.state_dict()
    assert got.keys() == expected.keys()
    assert all(t.dtype == torch.bfloat16 for t in got.values())
    assert all(torch.equal(got[n], expected[n]) for n in expected)
    original = load(base, dtype="auto")[0].state_dict()
    changed = sum(int((expected[n] != original[n]).sum()) for n in expected)
    assert changed > 1000                                  # the delta is there to be merged
    assert sum(int((bf16_merge[n] != expected[n]).sum()) for n in expected) > 0
