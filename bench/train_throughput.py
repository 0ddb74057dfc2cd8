"""Training throughput of the tiny Qwen2-Audio on the CPU, and the batching figures that matter
for the real model.

Prints, on the demo corpus:
  * samples/s and tokens/s (non-padding LLM tokens) of `curate train --model tiny` (30 s window)
    with and without length grouping, and with the 8 s CI window — the ratios are the result;
  * the LLM padding share of the mixture with and without length grouping;
  * the encoder window utilisation (audio s ÷ (clips × 30 s)) of the demo corpus before and after
    `curate run demo --plugins vad,short,chunk30,merge30`.

    OMP_NUM_THREADS=1 python bench/train_throughput.py --steps 30
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainrun import DEMO, train_rates  # noqa: E402


def merged_run(tmp: Path) -> Path:
    out = tmp / "run"
    subprocess.run([sys.executable, "-m", "curate", "run", "demo", "--plugins",
                    "vad,short,chunk30,merge30", "--out", str(out)], check=True,
                   capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out / "manifest.jsonl"


def tiny_rates(data: Path, out: Path, model: str, steps: int, grouped: bool) -> dict:
    """Median samples/s and tokens/s over the logged intervals after the first (warm-up)."""
    from train_adapter.finetune import Job
    from train_adapter.recipe import Recipe
    from train_adapter.trainer import Settings

    return train_rates(Job(model=model, data=[str(data)], recipe=Recipe("sft"),
                           loop=Settings(out=out, max_steps=steps, batch_size=4, logging_steps=5,
                                         save_steps=10 ** 6, grouped=grouped)))


def padding_shares(data: Path, tiny_dir: Path, batch: int) -> tuple[float, float]:
    from manifests import Problems
    from train_adapter import data as D
    from train_adapter.collator import token_lengths
    from train_adapter.model import load_processor
    from train_adapter.prompts import load as load_prompts
    from train_adapter.sampler import LengthGroupedSampler, padding_share

    examples, _ = D.read_source(data, D.Rules(), Problems())
    lengths = token_lengths(examples, load_prompts(str(tiny_dir)),
                            load_processor(tiny_dir))
    grouped = LengthGroupedSampler(lengths, batch).order()
    shuffled = LengthGroupedSampler(lengths, batch, grouped=False).order()
    return padding_share(lengths, grouped, batch), padding_share(lengths, shuffled, batch)


def utilisation(data: Path) -> tuple[float, int]:
    from manifests import read_manifest
    from train_adapter.data import MAX_SECONDS, MIN_SECONDS
    from train_adapter.sampler import window_utilisation

    durations = [r.duration for r in read_manifest(data)
                 if MIN_SECONDS <= r.duration <= MAX_SECONDS and r.text]
    return window_utilisation(durations, 30.0), len(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per training run")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from rich.console import Console
    from rich.table import Table

    import transformers
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    console = Console()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        merged = merged_run(tmp)
        runs = {
            "tiny, 30 s window, length-grouped": ("tiny", True),
            "tiny, 30 s window, shuffled": ("tiny", False),
            "tiny:8, 8 s window, length-grouped": ("tiny:8", True),
        }
        rates = {name: tiny_rates(DEMO, tmp / f"r{i}", model, args.steps, grouped)
                 for i, (name, (model, grouped)) in enumerate(runs.items())}
        tiny_dir = tmp / "r0" / "tiny-init"
        raw_share = padding_shares(DEMO, tiny_dir, 4)
        merged_share = padding_shares(merged, tiny_dir, 4)
        before, after = utilisation(DEMO), utilisation(merged)

    table = Table(title=f"curate train on the CPU ({args.steps} steps, batch 4, "
                        f"{torch.get_num_threads()} thread(s))")
    for col in ("run", "samples/s", "tokens/s", "loss first → last"):
        table.add_column(col, justify="left" if col == "run" else "right")
    base = rates["tiny, 30 s window, length-grouped"]
    for name, r in rates.items():
        table.add_row(name, f"{r['samples/s']:.1f} ({r['samples/s'] / base['samples/s']:.2f}x)",
                      f"{r['tokens/s']:.0f}", f"{r['loss'][0]:.2f} → {r['loss'][1]:.2f}")
    console.print(table)

    figures = Table(title="batching figures (demo corpus)", show_header=False)
    figures.add_row("LLM padding share, demo clips, batch 4",
                    f"{100 * raw_share[0]:.1f} % grouped vs {100 * raw_share[1]:.1f} % shuffled")
    figures.add_row("LLM padding share, after merge30, batch 4",
                    f"{100 * merged_share[0]:.1f} % grouped vs "
                    f"{100 * merged_share[1]:.1f} % shuffled")
    figures.add_row("encoder window utilisation, demo clips",
                    f"{100 * before[0]:.1f} % ({before[1]} clips)")
    figures.add_row("encoder window utilisation, after merge30",
                    f"{100 * after[0]:.1f} % ({after[1]} windows, "
                    f"{before[1] / after[1]:.1f}x fewer encoder passes)")
    console.print(figures)


if __name__ == "__main__":
    main()
