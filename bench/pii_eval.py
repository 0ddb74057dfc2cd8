"""Personal data on the labelled in-car set: precision and recall per kind, and leaks through runs.

Reads tests/data/sensitive_set.tsv (labelled sentences, half with personal data, some said over
two utterances), then:

  detector  precision and recall per kind of ``curate.checks.pii.find`` on each line (a line of several
            utterances as merge30 joins them), and every line it gets wrong, values masked
  leaks     builds a manifest of generated speech-like audio, one record per utterance, each line
            its own speaker, and runs ``curate run --plugins`` with vad, sensitive, short and
            merge30 in every one of the 24 orders (merge30.group_by=speaker: a line's utterances
            are packed together, as a speaker's consecutive utterances are); a leak is a record in
            manifest.jsonl that holds an utterance of a line with personal data

Goal: recall 1.00 and precision >= 0.97 for every kind; 0 leaks in every order.

    python bench/pii_eval.py                   # detector figures and all 24 orders
    python bench/pii_eval.py --orders 2        # the first two orders only
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from manifests import Record, read_manifest, write_manifest  # noqa: E402
from tests.audio_gen import speechlike, write  # noqa: E402
from tests.test_sensitive_detect import SET, labelled, score, table  # noqa: E402

STAGES = ("vad", "sensitive", "short", "merge30")
VOICES = 8  # distinct generated clips, reused under every record's own id


def utterances() -> list[tuple[int, bool, str]]:
    """(line, has personal data, utterance) for every utterance of the set, in order."""
    rows = {lineno: bool(kinds) for lineno, kinds, _ in labelled()}
    out = []
    for lineno, line in enumerate(SET.read_text(encoding="utf-8").splitlines(), 1):
        if lineno in rows:
            out += [(lineno, rows[lineno], u) for u in line.split("\t")[1:]]
    return out


def build_manifest(tmp: Path) -> tuple[Path, set[str]]:
    """The manifest of every utterance, and the ids of those on lines with personal data."""
    import soundfile as sf

    clips = [write(tmp / f"v{i}.wav", speechlike(2.0, seed=i)) for i in range(VOICES)]
    duration = sf.info(clips[0]).duration
    records, personal = [], set()
    for k, (lineno, sensitive, text) in enumerate(utterances()):
        rid = f"l{lineno:03d}u{k:04d}"
        records.append(Record(id=rid, audio=clips[k % VOICES], duration=duration, text=text,
                              speaker=f"line{lineno}"))
        if sensitive:
            personal.add(rid)
    write_manifest(tmp / "in.jsonl", records)
    return tmp / "in.jsonl", personal


def leaks(manifest: Path, personal: set[str], order: str, out: Path, workers: int) -> dict:
    cmd = [sys.executable, "-m", "curate", "run", str(manifest), "--plugins", order, "--set",
           "merge30.group_by=speaker", "--out", str(out), "--workers", str(workers)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr}")

    def parts(r):
        return {p["id"] for p in r.extra.get("parts", [])} or {r.id}

    kept = list(read_manifest(out / "manifest.jsonl"))
    eval_only = list(read_manifest(out / "eval_only.jsonl"))
    stages = [s["name"] for s in json.loads((out / "run.json").read_text())["stages"]]
    return {"kept": len(kept), "eval_only": len(eval_only),
            "leaks": sum(1 for r in kept if parts(r) & personal),
            "clean_held_out": sum(1 for r in eval_only if not parts(r) & personal),
            "stages": ",".join(stages)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", type=int, default=24, help="how many stage orders to run (of 24)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    rows = labelled()
    tp, fp, fn, mistakes = score(rows)
    positives = sum(1 for _, kinds, _ in rows if kinds)
    print(f"{SET.relative_to(ROOT)}: {len(rows)} lines, {positives} with personal data, "
          f"{len(rows) - positives} without")
    print("\n".join(table(tp, fp, fn)))
    for m in mistakes:
        print("  " + m)

    tmp = Path(tempfile.mkdtemp(prefix="curate-pii-eval-"))
    try:
        manifest, personal = build_manifest(tmp)
        n = sum(1 for _ in read_manifest(manifest))
        print(f"\n{n} utterances ({len(personal)} on lines with personal data), merge30.group_by="
              f"speaker, workers={args.workers}")
        print(f"{'order':<30} {'kept':>5} {'eval_only':>9} {'leaks':>6} {'clean held out':>15}  "
              f"stages run")
        orders = list(itertools.permutations(STAGES))[:args.orders]
        total = 0
        for i, order in enumerate(orders):
            r = leaks(manifest, personal, ",".join(order), tmp / f"run{i}", args.workers)
            total += r["leaks"]
            print(f"{','.join(order):<30} {r['kept']:>5} {r['eval_only']:>9} {r['leaks']:>6} "
                  f"{r['clean_held_out']:>15}  {r['stages']}")
        print(f"leaks in all {len(orders)} orders: {total}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
