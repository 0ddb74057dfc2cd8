"""`curate run demo --plugins vad,short,chunk30,merge30,noise`: the main job's contract on the
bundled corpus, through the command line."""
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli import app
from manifests import read_manifest
from manifests.audio import load
from plugins.joiner import join_texts

DEMO = Path(__file__).resolve().parent.parent / "curate" / "demo"
PLANTED = json.loads((DEMO / "planted.json").read_text())
PIPELINE = "vad,short,chunk30,merge30,noise"


def run(out: Path, workers: int, seed: int = 0) -> dict:
    res = CliRunner().invoke(app, ["run", "demo", "--plugins", PIPELINE, "--out", str(out),
                                   "--workers", str(workers), "--seed", str(seed)])
    assert res.exit_code == 0, res.output
    return json.loads((out / "run.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo_runs")
    return base, run(base / "w1", 1), run(base / "w2", 2)


def test_kept_records_fit_the_encoder_window(runs):
    base, _, _ = runs
    kept = list(read_manifest(base / "w1" / "manifest.jsonl"))
    assert kept
    for r in kept:
        assert 1.0 <= r.duration <= 30.0, (r.id, r.duration)
        assert r.has_tag("noise")
        assert r.labelled or r.id in PLANTED["empty_label"]  # no qc stage ran to set it aside


def test_planted_cases_are_routed(runs):
    base, _, _ = runs
    rejected = {json.loads(x)["id"]: json.loads(x) for x in
                (base / "w1" / "rejected.jsonl").read_text().splitlines()}
    for rid in PLANTED["short"]:
        assert rejected[rid]["reason"] == "too_short" and rejected[rid]["stage"] == "short"
    for rid in PLANTED["long_without_segments"]:
        assert rejected[rid]["reason"] == "long_without_timestamps"
    windows = [r.text for name in ("manifest.jsonl", "eval_only.jsonl")
               for r in read_manifest(base / "w1" / name)]
    demo = {r.id: r for r in read_manifest(DEMO / "manifest.jsonl")}
    for rid in PLANTED["long_with_segments"]:  # cut at sentence boundaries, every sentence kept once
        for seg in demo[rid].segments:
            assert sum(text.count(seg["text"]) for text in windows) == 1, (rid, seg["text"])


def test_every_transcript_survives_exactly_once(runs):
    """From the raw input through chunk30 and merge30: each input record is rejected with a
    reason, or is in the kept windows exactly once, and its transcript with it — a long record's
    as its sentences, in order, across its pieces."""
    base, _, _ = runs
    demo = list(read_manifest(DEMO / "manifest.jsonl"))
    rejected = {}
    for line in (base / "w1" / "rejected.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["reason"] and row["stage"], row["id"]
        rejected[row["id"]] = row
    assert set(rejected) <= {r.id for r in demo}   # whole input records, none split or merged
    kept = list(read_manifest(base / "w1" / "manifest.jsonl"))
    held = list(read_manifest(base / "w1" / "eval_only.jsonl"))   # the guard ran by default
    def parts(rows):
        return [part["id"] for r in rows for part in r.extra.get("parts") or [{"id": r.id}]]
    sources = parts(kept) + parts(held)
    whole = [s.split("#")[0] for s in sources]
    assert len(set(sources)) == len(sources)       # no piece in two windows
    assert sorted(set(whole)) == sorted(r.id for r in demo if r.id not in rejected)
    # the planted personal data is held out, and nothing else is
    sensitive = {i for k, ids in PLANTED.items() if k.startswith("sensitive_") for i in ids}
    assert {s.split("#")[0] for s in parts(held)} == sensitive - set(rejected)
    # each file's windows, in order, spell its surviving transcripts, in source order: a
    # transcript missing, copied or moved breaks the equality (merge30's joiner adds only spaces)
    for rows, ids in ((kept, set(whole) - sensitive), (held, sensitive)):
        assert "".join(r.text for r in rows).replace(" ", "") == "".join(
            r.text for r in demo if r.id in ids and r.id not in rejected).replace(" ", "")


def test_merged_windows_hold_their_parts(runs):
    base, _, _ = runs
    demo = {r.id: r for r in read_manifest(DEMO / "manifest.jsonl")}
    merged = [r for r in read_manifest(base / "w1" / "manifest.jsonl") if r.extra.get("parts")]
    assert len(merged) >= 10
    for r in merged:
        parts = r.extra["parts"]
        merge = next(e for e in r.lineage if e["stage"] == "merge30")  # noise comes after it
        part_lineage = {p["id"]: p["lineage"] for p in merge["parts"]}
        texts = [_part_text(demo, p["id"], part_lineage[p["id"]]) for p in parts]
        assert r.text == join_texts(texts)
        starts = [p["start"] for p in parts]
        assert starts == sorted(starts) and parts[-1]["end"] <= r.duration + 1e-3
        # 1 s gaps between parts
        for a, b in zip(parts, parts[1:]):
            assert b["start"] - a["end"] == pytest.approx(1.0, abs=0.01)


def _part_text(demo, part_id, lineage):
    """A demo record's label; for a chunk30 piece, the labels of the sentences inside it."""
    source = demo[part_id.split("#")[0]]
    if "#" not in part_id:
        return source.text
    trim = next(e["trim"][0] for e in lineage if e["stage"] == "vad")
    chunk = next(e for e in lineage if e["stage"] == "chunk30")
    lo, hi = trim + chunk["start"], trim + chunk["end"]
    return "".join(s["text"] for s in source.segments
                   if s["start"] >= lo - 0.3 and s["end"] <= hi + 0.3)


def test_unchanged_parts_point_at_source_and_noisy_audio_is_new(runs):
    base, _, _ = runs
    for r in read_manifest(base / "w1" / "manifest.jsonl"):
        assert Path(r.audio).is_relative_to((base / "w1" / "audio").resolve())
        audio = load(r.audio)
        assert len(audio) / 16000 == pytest.approx(r.duration, abs=1e-3)
        assert np.max(np.abs(audio)) <= 1.0


def test_accounting_balances_and_workers_do_not_change_output(runs):
    base, info1, info2 = runs
    acc = info1["accounting"]
    assert acc["input_records"] == 120
    assert sum(acc["records"].values()) == 120
    # each figure is rounded to 6 places (half a unit off at most): the three parts and the total
    assert sum(acc["hours"].values()) == pytest.approx(acc["input_hours"], abs=4 * 0.5e-6)
    assert acc["records"]["rejected"] == len(PLANTED["short"]) + len(PLANTED["long_without_segments"])
    for name in ("manifest.jsonl", "eval_only.jsonl", "rejected.jsonl"):
        assert (base / "w1" / name).read_bytes() == (base / "w2" / name).read_bytes()
    assert info1["accounting"] == info2["accounting"]
    # the personal-data guard, before each stage that rewrites texts and after the last
    ran = "vad,short,sensitive,chunk30,sensitive,merge30,noise,sensitive".split(",")
    assert [s["name"] for s in info1["stages"]] == ran
    assert "numpy" in info1["versions"] and len(info1["input_fingerprint"]) == 64
    stages = [f"{i}:{name}" for i, name in enumerate(ran)]
    assert list(info1["per_stage"]) == ["decode", *stages, "write"]
    # each stage is timed alone (without the work upstream of it), in one process with one
    # worker: the times are disjoint parts of the run's, up to their rounding to 1 ms
    seconds = [s["seconds"] for s in info1["per_stage"].values()]
    assert info1["workers"] == 1 and all(t >= 0 for t in seconds)
    assert sum(seconds) <= info1["wall_seconds"] + 0.0005 * (len(seconds) + 1)
    rows = acc["rows"]  # the write step counts every row that reaches a kept manifest
    assert info1["per_stage"]["write"]["records_out"] == rows["manifest"] + rows["eval_only"]


def test_rerun_is_byte_identical(runs, tmp_path):
    base, _, _ = runs
    run(tmp_path / "again", 2)
    assert (tmp_path / "again" / "manifest.jsonl").read_bytes() == \
        (base / "w1" / "manifest.jsonl").read_bytes()


def test_default_run_dir_is_stable_and_not_redone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["run", "demo", "--plugins", "short", "--workers", "1"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    out = Path(first.output.strip().splitlines()[-1])
    assert out.parent == Path("runs/demo") and (out / "run.json").exists()
    again = CliRunner().invoke(app, args)
    assert "already complete" in again.output
