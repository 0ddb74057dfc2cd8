"""Speed of `curate board` on a large board, in the same run.

Builds a board of --results results (default 1,000: 50 eval sets x 20 systems, each eval set of
--utterances utterances with per-utterance edit counts, as curate cer --board writes them), then
times, --repeat runs each, `curate board NAME` as the command runs it (read the board, the terminal
tables, --tsv and --html), and the same with --baseline (paired-bootstrap p-values for every
system of every eval set). Goal: a board of 1,000 results renders in under a second.

    python bench/board_speed.py
    python bench/board_speed.py --results 5000 --utterances 5000 --repeat 1
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(path: Path, results: int, systems: int, utterances: int, seed: int = 0) -> None:
    """Board lines shaped like curate cer --board's, with random per-utterance errors."""
    import numpy as np

    from curate.cer import board as B

    rng = np.random.default_rng(seed)
    rows = []
    for e in range(max(1, results // systems)):
        n = rng.integers(3, 30, size=utterances)
        evset = {"name": f"eval{e:03d}", "fingerprint": f"{e:064x}",
                 "scoring": {"unit": "mixed", "profile": "zh", "fuzzy": "exclude",
                             "missing": "deletions", "digest": "0" * 12},
                 "source": f"runs/eval{e}/eval_only.jsonl", "utterances": utterances}
        for s in range(systems):
            errors = rng.binomial(n, 0.02 + 0.1 * rng.random())
            N, E = int(n.sum()), int(errors.sum())
            cer = E / N
            rows.append({
                "board": B.BOARD_VERSION, "time": "2026-12-01T00:00:00+00:00", "eval": evset,
                "system": f"sys{s:02d}", "hyp": f"hyp/sys{s}.tsv", "utterances": utterances,
                "N": N, "C": N - E, "S": E // 2, "D": E // 4, "I": E - E // 2 - E // 4,
                "cer": cer, "cer_ci95": [cer * 0.9, cer * 1.1], "cer_raw": cer, "missing": 0,
                "empty": 0, "bootstrap": {"resamples": 1000, "seed": 0, "confidence": 0.95},
                "correction": None,
                "provenance": {"model": {"path": f"/ckpt/sys{s}", "family": "Qwen2-Audio",
                                         "step": 1000 * s}, "task": "asr",
                               "prompt_style": "base", "code": {"curate": "0.1.0"}},
                "per_utt": {"n": B._pack(n), "errors": B._pack(errors)}})
    B.append(path, rows)


def timed(repeat: int, fn) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", type=int, default=1000)
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--utterances", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from typer.testing import CliRunner

    from curate.cli import app

    tmp = Path(tempfile.mkdtemp(prefix="board_speed_"))
    os.environ["CURATE_WORKSPACE"] = str(tmp)
    board = tmp / ".curate" / "boards" / "big.jsonl"
    build(board, args.results, args.systems, args.utterances)
    runner = CliRunner()

    def run(*extra):
        result = runner.invoke(app, ["board", "big", "--tsv", str(tmp / "b.tsv"),
                                     "--html", str(tmp / "b.html"), *extra])
        assert result.exit_code == 0, result.output

    run()  # warm up: imports
    lines = sum(1 for _ in board.open(encoding="utf-8"))
    print(f"board of {lines} results ({board.stat().st_size / 1e6:.1f} MB, "
          f"{args.utterances} utterances per eval set), {args.repeat} runs each: best (slowest)")
    plain = timed(args.repeat, run)
    base = timed(args.repeat, lambda: run("--baseline", "sys00"))
    print(f"  curate board (tables, --tsv, --html)            {plain[0]:6.3f} s ({plain[1]:.3f})")
    print(f"  the same with --baseline (p-values, 1000 resamples) {base[0]:6.3f} s ({base[1]:.3f})")
    print(f"  HTML page: {(tmp / 'b.html').stat().st_size / 1e6:.2f} MB")
    print(f"  goal: 1,000 results render in under a second: "
          f"{'met' if plain[0] < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
