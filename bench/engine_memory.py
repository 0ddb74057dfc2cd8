"""Peak memory of `curate run`'s main process against the number of records: the engine keeps no
per-record state in the main process (8 bytes of id hash a record, to set repeated ids aside), so
its memory should stay flat from 100 k to millions of records.

Builds manifests of N records of metadata only (one real clip under new ids) and runs the
text-only stages `short,sensitive` over them (no decoding: the engine's own cost), with 2 workers,
printing records per second and the peak RSS of the main process and of the whole process tree.

    python bench/engine_memory.py --records 100000 --records 1000000 --records 10000000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rss import _tree_rss  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "curate" / "demo"


def build(n: int, out: Path) -> None:
    """``n`` manifest lines pointing at one demo clip, written straight as JSON (fast)."""
    line = json.loads((DEMO / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0])
    line["audio"] = str((DEMO / line["audio"]).resolve())
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            line["id"] = f"r{i:08d}"
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the main process, peak RSS of its tree)."""
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    main = tree = 0
    done = threading.Event()

    def sample():
        nonlocal main, tree
        while not done.is_set():
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    rss = [ln for ln in f if ln.startswith("VmRSS")]
                main = max(main, int(rss[0].split()[1]) * 1024 if rss else 0)
            except OSError:
                pass
            tree = max(tree, _tree_rss(proc.pid))
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode:
        raise RuntimeError(err[-2000:])
    return time.perf_counter() - t0, main, tree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, action="append")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"{'records':>10} {'records/s':>10} {'main RSS MB':>12} {'tree RSS MB':>12}")
    for n in args.records or [100_000]:
        tmp = Path(tempfile.mkdtemp(prefix="curate-mem-"))
        try:
            build(n, tmp / "in.jsonl")
            wall, main_rss, tree_rss = measure(
                [sys.executable, "-m", "curate", "run", str(tmp / "in.jsonl"), "--plugins",
                 "short,sensitive", "--out", str(tmp / "run"), "--workers", str(args.workers)])
            kept = json.loads((tmp / "run" / "run.json").read_text())["accounting"]
            assert kept["input_records"] == n, kept
            print(f"{n:>10} {n / wall:>10.0f} {main_rss / 2**20:>12.0f} {tree_rss / 2**20:>12.0f}",
                  flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
