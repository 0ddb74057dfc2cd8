"""keep_clean through the real executor: every augmentation keeps the clean record and adds its
copy, for every input (a copy made after the clean item was yielded lost its audio: the executor
may write the clean item, and free its samples, before the stage resumes)."""
import json
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

import curate
from curate.cli import app
from manifests import read_manifest, write_manifest
from manifests.rundir import open_run
from tests.cli import ok

DEMO = Path(curate.__file__).parent / "demo"


@pytest.mark.parametrize("stage", ["noise", "speed", "gain", "codec", "reverb"])
def test_every_input_keeps_its_clean_record_and_gets_its_copy(tmp_path, stage):
    records = [r for r in read_manifest(DEMO / "manifest.jsonl") if 1.5 < r.duration < 8][:6]
    write_manifest(tmp_path / "in.jsonl", records)
    out = tmp_path / "run"
    extra = ["--set", "speed.factors=0.9,1.1"] if stage == "speed" else []  # 1.0 makes no copy
    res = CliRunner().invoke(app, ["run", str(tmp_path / "in.jsonl"), "--plugins", f"vad,{stage}",
                                   "--set", f"{stage}.keep_clean=true", "--set", f"{stage}.p=1",
                                   *extra, "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    # a record holding personal data (call_006 says a phone number) and its copy are eval-only
    kept = {r.id: r for path in open_run(out).files() for r in read_manifest(path)}
    info = json.loads((out / "run.json").read_text())
    assert not info["per_stage"][f"1:{stage}"]["reasons"], info["per_stage"]
    for r in records:
        assert r.id in kept and f"{r.id}#{stage}" in kept, sorted(kept)
        copy = kept[f"{r.id}#{stage}"]
        assert copy.lineage[-1]["stage"] == stage
        assert sf.info(copy.audio).frames > 0  # its own audio, written


def test_a_copy_named_like_another_output_is_set_aside_not_written_over_it(tmp_path):
    """noise twice with keep_clean: the second makes ID#noise again from ID. Two records under one
    id would share (and overwrite) one audio file; the second is rejected duplicate_id."""
    records = [r for r in read_manifest(DEMO / "manifest.jsonl") if 1.5 < r.duration < 8][:4]
    write_manifest(tmp_path / "in.jsonl", records)
    out = tmp_path / "run"
    ok(["run", str(tmp_path / "in.jsonl"), "--plugins", "noise,noise", "--set",
        "noise.keep_clean=true", "--out", str(out), "--workers", "1"])
    kept = [r.id for r in read_manifest(out / "manifest.jsonl")]
    assert len(kept) == len(set(kept))
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    assert rejected and all((r["reason"], r["stage"]) == ("duplicate_id", "write")
                            for r in rejected)
    assert {r["id"] for r in rejected} <= set(kept)
    written = [r.audio for r in read_manifest(out / "manifest.jsonl")
               if Path(r.audio).parent == (out / "audio").resolve()]
    assert written and len(written) == len(set(written))  # no file serves two records
