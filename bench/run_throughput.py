"""Throughput and peak memory of `curate run` against a floor and a Lhotse pipeline.

Builds corpora of N hours from the demo corpus voices (a manifest that reuses the demo recordings
under new ids, so every record is really decoded), then, for each N, runs in separate processes:

  curate   vad,short,chunk30,merge30,noise with --workers W
  ray      the same with --engine ray (a single-node Ray that curate starts), when ray is installed
  ray-up   the same on a Ray already running (`ray start --head`, then RAY_ADDRESS=auto), as on a
           cluster: Ray's start and stop are not in the time (nor its processes in the RSS)
  resume   the same run killed with SIGKILL once half its shards are finished, then rerun: the
           figure is the rerun's wall time against the uninterrupted run's (it should be ~half)
  floor    decode every input and encode ~30 s FLAC outputs with soundfile, nothing else, W processes
  lhotse   an equivalent Lhotse pipeline (filter < 1 s, 30 s windows, concat with 1 s gaps, noise
           mix, save FLAC) when lhotse is installed; Lhotse has no webrtcvad trim, so it does less

and prints audio seconds per wall second, the ratio to the floor, and peak RSS of the process tree.

    python bench/run_throughput.py --hours 1 --hours 10 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rss import run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "curate" / "demo"
PLUGINS = "vad,short,chunk30,merge30,noise"


def build_corpus(hours: float, out: Path) -> float:
    """A manifest of ``hours`` of audio, cycling through the demo's labelled recordings."""
    from manifests import read_manifest, write_manifest

    base = [r for r in read_manifest(DEMO / "manifest.jsonl") if r.text]
    records, total, k = [], 0.0, 0
    while total < hours * 3600:
        for r in base:
            r2 = r.__class__.from_dict({**r.to_dict(), "id": f"r{k:05d}-{r.id}", "batch": f"b{k % 7}"})
            r2.audio = r.audio
            records.append(r2)
            total += r.duration
            if total >= hours * 3600:
                break
        k += 1
    write_manifest(out, records)
    return total


def floor(manifest: str, out_dir: str, workers: int) -> None:
    """Decode every input; write ~30 s FLAC files of the decoded audio. The least a run must do."""
    from concurrent.futures import ProcessPoolExecutor

    from manifests import read_manifest

    recs = list(read_manifest(manifest))
    chunks = [recs[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_floor_chunk, chunks, [out_dir] * workers, range(workers)))


def _floor_chunk(recs, out_dir, w) -> None:
    import numpy as np
    import soundfile as sf

    from manifests.audio import load

    buf, size, n = [], 0, 0
    for r in recs:
        a = load(r.audio, r.offset, r.duration)
        if size + len(a) > 30 * 16000 and buf:
            sf.write(f"{out_dir}/w{w}_{n}.flac", np.concatenate(buf), 16000, subtype="PCM_16")
            buf, size, n = [], 0, n + 1
        buf.append(a)
        size += len(a)
    if buf:
        sf.write(f"{out_dir}/w{w}_{n}.flac", np.concatenate(buf), 16000, subtype="PCM_16")


def lhotse_pipeline(manifest: str, out_dir: str, workers: int) -> None:
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
    from lhotse.dataset.cut_transforms.concatenate import concat_cuts

    from manifests import read_manifest

    recordings: dict[str, Recording] = {}
    cuts = []
    for r in read_manifest(manifest):
        if r.audio not in recordings:
            recordings[r.audio] = Recording.from_file(r.audio, recording_id=Path(r.audio).stem)
        rec = recordings[r.audio]
        sup = SupervisionSegment(id=r.id, recording_id=rec.id, start=r.offset, duration=r.duration,
                                 text=r.text)
        cuts.append(MonoCut(id=r.id, start=r.offset, duration=r.duration, channel=0,
                            recording=rec, supervisions=[sup]))
    cuts = CutSet.from_cuts(cuts).resample(16000)
    cuts = cuts.filter(lambda c: c.duration >= 1.0).cut_into_windows(30.0)
    cuts = CutSet.from_cuts(concat_cuts(list(cuts), gap=1.0, max_duration=30.0))
    noise = CutSet.from_cuts(
        Recording.from_file(p).to_cut() for p in sorted((DEMO / "noise").glob("*.flac")))
    cuts = cuts.mix(noise, snr=(5, 20), mix_prob=1.0, seed=0)
    cuts.save_audios(out_dir, format="flac", num_jobs=workers)


def killed_half_way(cmd: list[str], out: Path, shards: int, env: dict) -> None:
    """Start ``cmd`` and SIGKILL it once half of its ``shards`` are finished in ``out``."""
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        done = len([p for p in (out / "shards").glob("[0-9]*")]) if (out / "shards").exists() else 0
        if done >= shards // 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()


@contextmanager
def running_ray(workers: int, env: dict):
    """A single-node Ray started with `ray start --head`, as on a cluster: yields the environment
    that points curate at it (RAY_ADDRESS=auto); stopped on leaving."""
    ray = str(Path(sys.executable).parent / "ray")
    subprocess.run([ray, "start", "--head", f"--num-cpus={workers}", "--include-dashboard=false",
                    "--disable-usage-stats"], env=env, check=True, capture_output=True)
    try:
        yield {**env, "RAY_ADDRESS": "auto"}
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, action="append", help="corpus size; repeatable")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--floor", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--lhotse", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor:
        return floor(*args.floor, args.workers)
    if args.lhotse:
        return lhotse_pipeline(*args.lhotse, args.workers)

    try:
        import lhotse  # noqa: F401
        have_lhotse = True
    except ImportError:
        have_lhotse = False
    try:
        import ray  # noqa: F401
        have_ray = True
    except ImportError:
        have_ray = False
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows, resumes = [], []
    for hours in args.hours or [1.0]:
        tmp = Path(tempfile.mkdtemp(prefix=f"curate-bench-{hours:g}h-"))
        try:
            manifest = tmp / "in.jsonl"
            seconds = build_corpus(hours, manifest)
            runs = {
                "curate": [sys.executable, "-m", "curate", "run", str(manifest), "--plugins",
                           PLUGINS, "--out", str(tmp / "curate"), "--workers", str(args.workers)],
                "floor": [sys.executable, __file__, "--workers", str(args.workers),
                          "--floor", str(manifest), str(tmp / "floor")],
            }
            if have_ray:
                runs["ray"] = runs["curate"][:-4] + ["--out", str(tmp / "ray"), "--engine", "ray",
                                                     "--workers", str(args.workers)]
            if have_lhotse:
                runs["lhotse"] = [sys.executable, __file__, "--workers", str(args.workers),
                                  "--lhotse", str(manifest), str(tmp / "lhotse")]
            results = {}
            for name, cmd in runs.items():
                (tmp / name).mkdir(exist_ok=True)
                wall, peak, _ = run_measured(cmd, env=env, cwd=ROOT)
                results[name] = (seconds / wall, peak)
            if have_ray:
                cmd = runs["curate"][:-4] + ["--out", str(tmp / "ray-up"), "--engine", "ray",
                                          "--workers", str(args.workers)]
                with running_ray(args.workers, env) as ray_env:
                    wall, peak, _ = run_measured(cmd, env=ray_env, cwd=ROOT)
                results["ray-up"] = (seconds / wall, peak)
            info = json.loads((tmp / "curate" / "run.json").read_text())
            kept, shards = info["accounting"], info["shards"]["total"]
            for name, (speed, peak) in results.items():
                rows.append((hours, name, speed, speed / results["floor"][0], peak / 2**20))
            if shards >= 4:
                resume_cmd = runs["curate"][:-4] + ["--out", str(tmp / "resume"),
                                                    "--workers", str(args.workers)]
                killed_half_way(resume_cmd, tmp / "resume", shards, env)
                wall, peak, _ = run_measured(resume_cmd, env=env, cwd=ROOT)
                reused = json.loads((tmp / "resume" / "run.json").read_text())["shards"]["reused"]
                whole = seconds / results["curate"][0]
                resumes.append((hours, reused, shards, wall, wall / whole))
            print(f"{hours:g} h input: curate kept {kept['records']['kept']} of "
                  f"{kept['input_records']} records", file=sys.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"workers={args.workers}  cores={os.cpu_count()}")
    print(f"{'hours':>6} {'pipeline':<8} {'audio s / wall s':>17} {'vs floor':>9} {'peak RSS MB':>12}")
    for hours, name, speed, ratio, mb in rows:
        print(f"{hours:>6g} {name:<8} {speed:>17.1f} {ratio:>8.2f}x {mb:>12.0f}")
    for hours, reused, shards, wall, share in resumes:
        print(f"{hours:>6g} h killed half way: the rerun reused {reused} of {shards} shards and took "
              f"{wall:.1f} s, {share:.2f}x the uninterrupted run")
    if not have_lhotse:
        print("lhotse not installed: no Lhotse comparison (pip install lhotse)")
    if not have_ray:
        print("ray not installed: no --engine ray row (pip install 'curate[ray]')")


if __name__ == "__main__":
    main()
