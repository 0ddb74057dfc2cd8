"""One optimizer step of every stage at the real widths of each family's released checkpoint, on
the CPU: proof that nothing in data → collator → recipe → loss → trainer → save assumes the tiny
model's sizes.

Each family gets a random model with its 7B-class (Qwen3-ASR: 1.7B) checkpoint's widths and full
vocabulary, but one encoder layer and one LLM layer, built by its own ``build_tiny`` with size
overrides; then ``finetune`` (the path ``curate train --model FOLDER`` takes) runs one step of
stage align, stage sft with LoRA and stage full on two demo clips. Every build and every run is its
own process, so each peak RSS (bench/rss.py, the whole process tree) is that run's alone.

Full training of every weight with AdamW in fp32 needs 16 bytes a parameter (weight, gradient,
two moments). The one-layer Qwen2-Audio and Qwen2.5-Omni models are still 1.3-1.5 B parameters,
almost all of it the 152-156k-token embedding and lm_head: 21-24 GiB in fp32, more than the
budget (MEMORY_GIB). Their full step then runs in --precision bf16 (8 bytes a parameter), and
the table says so.

    python bench/shape7b.py [--family NAME ...] [--keep DIR]
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEMO = ROOT / "curate" / "demo" / "manifest.jsonl"
MEMORY_GIB = 20          # what a run may take of the 24 GiB machine this was sized for
WINDOW = 30              # the released models' encoder window

# Widths from the released config.json files. Where transformers' config defaults differ (the
# Qwen2AudioConfig text defaults are Qwen2-7B's: ffn 22016, vocab 151936; the Qwen3ASRConfig
# audio default output_dim 3584 is Qwen3-Omni's), the released checkpoint's value is used.
SHAPES = {
    "qwen2_audio": {   # Qwen/Qwen2-Audio-7B(-Instruct)
        "audio": {"d_model": 1280, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120,
                  "encoder_layers": 1},
        "text": {"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 32,
                 "intermediate_size": 11008, "num_hidden_layers": 1},
        "vocab_size": 156032,
    },
    "qwen2_5_omni": {  # Qwen/Qwen2.5-Omni-7B, thinker_config
        "audio": {"d_model": 1280, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120,
                  "output_dim": 3584, "encoder_layers": 1},
        "vision": {"depth": 1, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                   "out_hidden_size": 3584, "fullatt_block_indexes": [0]},
        "text": {"hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
                 "intermediate_size": 18944, "num_hidden_layers": 1,
                 # head_dim 128: the multimodal RoPE sections split its 64 frequencies
                 "rope_scaling": {"type": "default", "rope_type": "default",
                                  "mrope_section": [16, 24, 24]}},
        "vocab_size": 152064,
    },
    "qwen3_asr": {     # Qwen/Qwen3-ASR-1.7B
        "audio": {"d_model": 1024, "encoder_attention_heads": 16, "encoder_ffn_dim": 4096,
                  "output_dim": 2048, "downsample_hidden_size": 480, "encoder_layers": 1},
        "text": {"hidden_size": 2048, "num_attention_heads": 16, "num_key_value_heads": 8,
                 "head_dim": 128, "intermediate_size": 6144, "num_hidden_layers": 1},
        "vocab_size": 151936,
    },
}
STAGES = ("align", "sft+lora", "full")


def _records(folder: Path) -> Path:
    """Two short labelled demo clips."""
    from manifests import read_manifest, write_manifest

    records = [r for r in read_manifest(DEMO) if 1 < r.duration < 5 and r.text][:2]
    path = folder / "two.jsonl"
    write_manifest(path, records)
    return path


def child_build(family: str, out: Path) -> dict:
    from safetensors import safe_open

    from manifests import read_manifest
    from train_adapter.families import by_name
    from train_adapter.model import build_tiny

    texts = [t for r in read_manifest(DEMO) for t in (r.text, r.hyp) if t]
    start = time.perf_counter()
    build_tiny(out, texts, window=WINDOW, family=by_name(family), **SHAPES[family])
    config = json.loads((out / "config.json").read_text())
    n = 0   # as saved: a tied weight counts once
    for file in out.glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            n += sum(_prod(f.get_slice(key).get_shape()) for key in f.keys())
    return {"parameters": n, "seconds": time.perf_counter() - start,
            "model_type": config["model_type"]}


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def child_train(model_dir: Path, data: Path, stage: str, precision: str, out: Path) -> dict:
    from rich.console import Console

    from train_adapter import finetune as ft
    from train_adapter.recipe import Lora, Recipe
    from train_adapter.trainer import Settings

    recipe = {"align": Recipe("align"), "sft+lora": Recipe("sft", lora=Lora()),
              "full": Recipe("full")}[stage]
    counted = {}
    real_prepare = ft.prepare_model

    def prepare(*a, **k):     # the real one; only counts what the recipe made trainable
        model, processor = real_prepare(*a, **k)
        counted["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        counted["total"] = sum(p.numel() for p in {id(p): p for p in model.parameters()}
                               .values())
        return model, processor
    ft.prepare_model = prepare
    start = time.perf_counter()
    job = ft.Job(model=str(model_dir), data=[str(data)], recipe=recipe,
                 loop=Settings(out=out, batch_size=2, max_steps=1, logging_steps=1,
                               save_steps=10 ** 6, warmup=0, report_to="none",
                               precision=precision))
    ft.finetune(job, Console(file=io.StringIO()))
    wall = time.perf_counter() - start
    log = next(h for h in json.loads((out / "train.json").read_text())["log_history"]
               if "loss" in h)
    return {**counted, "loss": log["loss"], "grad_norm": log.get("grad_norm"),
            # samples/s is measured from the first training_step to the log: one whole step
            "step_s": 2 / log["samples_per_second"], "wall_s": wall}


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", action="append", choices=list(SHAPES))
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        kind, *rest = a.child
        if kind == "build":
            result = child_build(rest[0], Path(rest[1]))
        else:
            result = child_train(Path(rest[0]), Path(rest[1]), rest[2], rest[3], Path(rest[4]))
        print("RESULT " + json.dumps(result))
        return

    from rss import run_measured

    work = a.keep or Path(tempfile.mkdtemp(prefix="shape7b-"))
    work.mkdir(parents=True, exist_ok=True)
    data = _records(work)

    def child(*args) -> tuple[dict, float, int]:
        wall, peak, done = run_measured([sys.executable, __file__, "--child", *map(str, args)])
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
        return json.loads(line[7:]), wall, peak

    rows = []
    for family in a.family or list(SHAPES):
        model_dir = work / family / "model"
        built, wall, peak = child("build", family, model_dir)
        print(f"{family}: built {built['parameters'] / 1e9:.3f} B parameters in {wall:.0f} s "
              f"(peak RSS {_gib(peak)})", flush=True)
        for stage in STAGES:
            precision = "fp32"
            note = ""
            if stage == "full" and built["parameters"] * 16 > MEMORY_GIB * 2 ** 30:
                precision = "bf16"
                note = (f"fp32 AdamW would need {_gib(built['parameters'] * 16)} for weights, "
                        f"gradients and moments (> {MEMORY_GIB} GiB): run in bf16")
            out = work / family / stage
            try:
                r, wall, peak = child("train", model_dir, data, stage, precision, out)
            except RuntimeError as e:
                rows.append((family, stage, precision, None, None, None, None,
                             f"failed: {str(e).splitlines()[-1][:120]}"))
                print(rows[-1], flush=True)
                continue
            finally:
                shutil.rmtree(out, ignore_errors=True)
            rows.append((family, stage, precision, r["trainable"], r["step_s"], peak, r["loss"],
                         f"{note}{'; ' if note else ''}{r['total'] / 1e9:.3f} B total, "
                         f"run {wall:.0f} s"))
            print(f"  {stage:9s} {precision:5s} trainable {r['trainable']:>13,}  step "
                  f"{r['step_s']:6.2f} s  peak RSS {_gib(peak):>9s}  loss {r['loss']:.4f}"
                  + (f"  ({note})" if note else ""), flush=True)
        if not a.keep:
            shutil.rmtree(work / family, ignore_errors=True)

    print()
    print(f"{'family':13s} {'stage':9s} {'prec':5s} {'trainable':>14s} {'step s':>7s} "
          f"{'peak RSS':>9s} {'loss':>8s}  notes")
    for family, stage, precision, trainable, step, peak, loss, note in rows:
        if trainable is None:
            print(f"{family:13s} {stage:9s} {precision:5s} {'-':>14s} {'-':>7s} {'-':>9s} "
                  f"{'-':>8s}  {note}")
            continue
        print(f"{family:13s} {stage:9s} {precision:5s} {trainable:>14,} {step:7.2f} "
              f"{_gib(peak):>9s} {loss:8.4f}  {note}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
