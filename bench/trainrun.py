"""What the training benchmarks share: the demo corpus, and one quiet `curate train` run reduced
to its throughput (bench/train_throughput.py on the CPU, bench/train_gpu.py on a CUDA GPU)."""
from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "curate" / "demo" / "manifest.jsonl"


def train_rates(job) -> dict:
    """Run ``finetune(job)`` with its console silenced; median samples/s and tokens/s over the
    logged intervals after the first (warm-up), and the first and last logged loss."""
    from rich.console import Console

    from train_adapter.finetune import finetune

    finetune(job, Console(file=io.StringIO()))
    logs = [h for h in json.loads((Path(job.loop.out) / "train.json").read_text())["log_history"]
            if "loss" in h]
    later = logs[1:] or logs
    return {"samples/s": statistics.median(h["samples_per_second"] for h in later),
            "tokens/s": statistics.median(h["tokens_per_second"] for h in later),
            "loss": (logs[0]["loss"], logs[-1]["loss"])}
