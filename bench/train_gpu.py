"""Training throughput and peak memory of a larger random Qwen2-Audio in bf16 on one CUDA GPU.

The model (≈1.3B parameters: a 1280-wide 8-layer encoder, a 2048-wide 16-layer LLM, and the real
156,032-token vocabulary so lm_head costs what it does on the 7B) is built like the tiny one and
trained through `curate train`'s code on the demo corpus (30 s window). Prints samples/s, tokens/s
and peak GPU memory per recipe, and the peak memory of one forward+backward with lm_head over every
position against lm_head at the labelled positions only.

Needs CUDA; elsewhere it says so and exits 0. CI never runs it.

    python bench/train_gpu.py --steps 20 --batch-size 8
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainrun import DEMO, train_rates  # noqa: E402

AUDIO = {"d_model": 1280, "encoder_layers": 8, "encoder_attention_heads": 20,
         "encoder_ffn_dim": 5120}
TEXT = {"hidden_size": 2048, "intermediate_size": 5504, "num_hidden_layers": 16,
        "num_attention_heads": 16, "num_key_value_heads": 8}
VOCAB = 156032


def build(folder: Path) -> Path:
    import torch

    from manifests import read_manifest
    from train_adapter.model import build_tiny

    texts = [t for r in read_manifest(DEMO) for t in (r.text, r.hyp) if t]
    with torch.device("cuda"):     # initialise on the GPU: seconds instead of minutes
        return build_tiny(folder, texts, window=30, audio=AUDIO, text=TEXT, vocab_size=VOCAB)


def train(model_dir: Path, out: Path, recipe, steps: int, batch: int) -> dict:
    import torch

    from train_adapter.finetune import Job
    from train_adapter.trainer import Settings

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    rates = train_rates(Job(model=str(model_dir), data=[str(DEMO)], recipe=recipe,
                            loop=Settings(out=out, max_steps=steps, batch_size=batch,
                                          logging_steps=5, save_steps=10 ** 6, num_workers=4)))
    return {"samples/s": rates["samples/s"], "tokens/s": rates["tokens/s"],
            "peak GiB": torch.cuda.max_memory_allocated() / 2 ** 30,
            "wall s": time.perf_counter() - start}


def logits_memory(model_dir: Path, batch: int) -> tuple[float, float]:
    """Peak GiB of one forward+backward: full logits (the model's own loss) vs labelled only."""
    import torch

    from manifests import Problems
    from train_adapter import data as D
    from train_adapter.collator import Collator
    from train_adapter.loss import LabelledLogits, token_loss
    from train_adapter.model import load
    from train_adapter.prompts import load as load_prompts

    model, processor = load(model_dir, dtype=torch.bfloat16)
    model.to("cuda").train()
    examples, _ = D.read_source(DEMO, D.Rules(), Problems())
    inputs = {k: v.to("cuda") for k, v in
              Collator(processor, load_prompts(str(model_dir)))(examples[:batch]).items()}
    labels, loss_mask = inputs.pop("labels"), inputs.pop("loss_mask")
    peaks = []
    for labelled in (False, True):
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        if labelled:
            hooks = LabelledLogits(model)
            loss = token_loss(model(**inputs, loss_mask=loss_mask), labels)
            hooks.remove()
        else:
            loss = model(**inputs, labels=labels).loss
        loss.backward()
        peaks.append(torch.cuda.max_memory_allocated() / 2 ** 30)
    return peaks[0], peaks[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("bench/train_gpu.py needs a CUDA GPU and none is visible here; nothing measured. "
              "Use bench/train_throughput.py on the CPU.")
        return 0
    import transformers
    from rich.console import Console
    from rich.table import Table

    from train_adapter.recipe import Lora, Recipe
    transformers.utils.logging.set_verbosity_error()

    recipes = {"sft, LoRA r=16": Recipe("sft", lora=Lora(r=16)),
               "sft, full LLM": Recipe("sft"),
               "align (encoder + projector)": Recipe("align"),
               "full": Recipe("full")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build(tmp / "model")
        results = {name: train(model_dir, tmp / f"run{i}", recipe, args.steps, args.batch_size)
                   for i, (name, recipe) in enumerate(recipes.items())}
        full_peak, labelled_peak = logits_memory(model_dir, args.batch_size)

    table = Table(title=f"{torch.cuda.get_device_name()}: random Qwen2-Audio ≈1.3B, bf16, "
                        f"batch {args.batch_size}, {args.steps} steps, demo corpus")
    for col in ("recipe", "samples/s", "tokens/s", "peak GiB", "wall s"):
        table.add_column(col, justify="left" if col == "recipe" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['samples/s']:.1f}", f"{r['tokens/s']:.0f}",
                      f"{r['peak GiB']:.1f}", f"{r['wall s']:.0f}")
    console = Console()
    console.print(table)
    console.print(f"one forward+backward, batch {args.batch_size}: peak {full_peak:.2f} GiB with "
                  f"logits at every position, {labelled_peak:.2f} GiB at labelled positions only "
                  f"({full_peak / labelled_peak:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
