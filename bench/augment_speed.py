"""Throughput of the augmentation stages against the decode+encode floor, in one run.

Builds a corpus of N hours from the demo recordings (bench/run_throughput.py's, every record
really decoded), then runs, each in its own processes with --workers W:

  floor    decode every input and encode ~30 s FLAC outputs, nothing else (run_throughput.py's)
  STAGE    `curate run --plugins STAGE` for each of speed, gain, codec, reverb, noise alone
           (decode, the stage, encode whatever it changed)
  chain    `curate run --plugins vad,speed,reverb,noise,codec,merge30`

and prints audio seconds per wall second and the ratio to the floor (goal for the chain: >= 0.5x
on 2 cores), then the chain's seconds per stage from its run.json.

    python bench/augment_speed.py --hours 0.5 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rss import run_measured  # noqa: E402
from run_throughput import ROOT, build_corpus  # noqa: E402

STAGES = ("speed", "gain", "codec", "reverb", "noise")
CHAIN = "vad,speed,reverb,noise,codec,merge30"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, default=0.5, help="corpus size (default 0.5)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="curate-augment-bench-"))
    try:
        manifest = tmp / "in.jsonl"
        seconds = build_corpus(args.hours, manifest)
        workers = ["--workers", str(args.workers)]
        runs = {"floor": [sys.executable, str(ROOT / "bench" / "run_throughput.py"), *workers,
                          "--floor", str(manifest), str(tmp / "floor")]}
        for name, plugins in [(s, s) for s in STAGES] + [("chain", CHAIN)]:
            runs[name] = [sys.executable, "-m", "curate", "run", str(manifest), "--plugins",
                          plugins, "--out", str(tmp / name), "--seed", str(args.seed), *workers]
        speeds = {}
        for name, cmd in runs.items():
            if name == "floor":
                (tmp / name).mkdir()
            wall, _, proc = run_measured(cmd, env=env, cwd=ROOT)
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr}")
            speeds[name] = seconds / wall
        per_stage = json.loads((tmp / "chain" / "run.json").read_text())["per_stage"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{seconds / 3600:.2f} h of input  workers={args.workers}  cores={os.cpu_count()}")
    print(f"{'run':<8} {'audio s / wall s':>17} {'vs floor':>9}")
    for name, speed in speeds.items():
        print(f"{name:<8} {speed:>17.1f} {speed / speeds['floor']:>8.2f}x")
    verdict = "meets" if speeds["chain"] >= 0.5 * speeds["floor"] else "misses"
    print(f"chain {CHAIN}: {verdict} the goal of 0.5x the floor")
    print("chain, seconds per stage (summed over workers):")
    for stage, stats in per_stage.items():
        print(f"  {stage:<10} {stats['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
