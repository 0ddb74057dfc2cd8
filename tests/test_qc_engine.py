"""`curate qc RUN` checks the records a run did not measure through the executor (issue 10): the
same decode as `curate run` (corrupt and silent audio set aside, named by id), parallel workers
with the same measurements as one, the speaking-rate band of the whole run, and the run's own
files, and the temporary directory, left as they were."""
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.checks.tags import measured
from curate.cli import app
from curate.engine import discovery
from curate.stage import Context
from manifests import Problems, Record, read_manifest, write_manifest
from tests.test_qc_derived import SENTENCE, clip

DEMO = Path(__file__).resolve().parent.parent / "curate" / "demo"


def invoke(*args):
    return CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": "200"})


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The temporary directory curate qc's scratch run goes to, to see that nothing stays."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def derived_run(tmp_path):
    """A run with chunks and a merged window and no qc stage (nothing measured), then one
    source file turned to NaN samples and one to silence."""
    src = tmp_path / "src"
    src.mkdir()
    segments = [{"start": s, "end": s + 19.0, "text": SENTENCE} for s in (0.5, 20.5, 40.5)]
    records = [clip(src, "long1", 60.0, seed=1, text=SENTENCE * 3, segments=segments,
                    speaker="s1"),
               clip(src, "p1", seed=3, sr=8000, speaker="s2"), clip(src, "p2", seed=4, speaker="s2"),
               clip(src, "p3", seed=5, speaker="s2"),
               clip(src, "solo", seed=6, text="我想去～那个地方", speaker="s3"),
               clip(src, "numerals", seed=7, text="温度调到3十五度", speaker="s4")]
    write_manifest(src / "manifest.jsonl", records)
    run = tmp_path / "run"
    res = invoke("run", src / "manifest.jsonl", "--plugins", "chunk30,merge30",
                 "--set", "merge30.group_by=speaker", "--out", run, "--workers", "1")
    assert res.exit_code == 0, res.output
    nan = np.full(16000 * 2, np.nan, dtype=np.float32)
    sf.write(src / "solo.wav", nan, 16000, subtype="FLOAT")
    sf.write(src / "numerals.wav", np.zeros(16000 * 2, dtype=np.float32), 16000)
    return run


def test_workers_measure_what_one_worker_does_and_bad_audio_is_named(derived_run, scratch):
    runs = {}
    for workers in (1, 2):
        run = derived_run.parent / f"run_w{workers}"
        shutil.copytree(derived_run, run)
        before = digests(run)
        res = invoke("qc", run, "--workers", workers)
        assert res.exit_code == 0, res.output
        # the run's own files as they were; only the report files added; no scratch run left
        after = digests(run)
        assert {k: after[k] for k in before} == before
        assert set(after) - set(before) == {"report.html", "flagged.jsonl", "qc.json"}
        assert list(scratch.iterdir()) == []
        runs[workers] = run, res.output

    (run1, out1), (run2, out2) = runs[1], runs[2]
    assert (run1 / "flagged.jsonl").read_bytes() == (run2 / "flagged.jsonl").read_bytes()
    assert (run1 / "qc.json").read_bytes() == (run2 / "qc.json").read_bytes()
    # the same but for the run's name, in the title and the source line
    html = [(run / "report.html").read_text(encoding="utf-8").replace(run.name, "RUN")
            for run in (run1, run2)]
    assert html[0] == html[1]
    # two workers had more than one shard to share
    shards = re.search(r"in (\d+) shard\(s\) with 2 worker\(s\)", " ".join(out2.split()))
    assert shards and int(shards.group(1)) > 1, out2

    report = json.loads((run2 / "qc.json").read_text(encoding="utf-8"))
    for output in (out1, out2):
        flat = " ".join(output.split())
        assert re.search(r"set aside: \S*solo\.wav.*solo.*audio not checked \(corrupt_audio\)",
                         flat), output
        assert re.search(r"set aside: \S*numerals\.wav.*numerals.*audio not checked "
                         r"\(silent_audio\)", flat), output
        assert "2 record(s) could not be checked" in flat
    assert report["unchecked"] == 2 and report["records"] == 6
    # the chunks and the window are measured on their own audio
    rated = {p["id"] for p in report["rates"]}
    assert {"long1#c0", "long1#c1", "long1#c2", "merge:p1+p2+p3"} <= rated
    assert not rated & {"solo", "numerals"}


def test_the_rate_band_is_the_whole_runs(tmp_path, scratch):
    # noisy copies are unchecked; the records the run measured count for the band too
    run = tmp_path / "run"
    res = invoke("run", "demo", "--plugins", "qc,noise", "--set", "noise.p=0.3", "--out", run,
                 "--workers", "1")
    assert res.exit_code == 0, res.output
    data = [r for name in ("manifest.jsonl", "eval_only.jsonl") if (run / name).is_file()
            for r in read_manifest(run / name, Problems())]
    unchecked = {r.id for r in data if not measured(r)}
    assert 0 < len(unchecked) < len(data)

    def band_lo(records):
        stage = discovery.build_stages(["qc"], {})[0]
        stage.prepare(records, Context())
        return round(max(stage.rate_bounds[0], stage.band[1]), 3)

    whole, part = band_lo(data), band_lo([r for r in data if r.id in unchecked])
    assert whole != part  # else this test tells nothing
    res = invoke("qc", run, "--workers", 2)
    assert res.exit_code == 0, res.output
    lows = {r.extra["qc"]["rate_band"][0] for r in read_manifest(run / "flagged.jsonl")
            if r.id in unchecked and "rate_band" in r.extra["qc"]}
    assert lows == {whole}


def test_a_check_that_raises_sets_its_record_aside(derived_run, scratch, monkeypatch):
    from plugins.qc import QC

    check = QC.check

    def breaks_on_one(self, item):
        if item.record.id == "long1#c1":
            raise ValueError("boom")
        return check(self, item)

    monkeypatch.setattr(QC, "check", breaks_on_one)  # one worker: it runs in this process
    res = invoke("qc", derived_run, "--workers", 1)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert re.search(r"long1\.wav \[long1#c1\]: not checked \(stage_error:ValueError: boom\)",
                     flat), res.output
    report = json.loads((derived_run / "qc.json").read_text(encoding="utf-8"))
    assert report["unchecked"] == 3  # with the corrupt and the silent file
    assert {"long1#c0", "long1#c2", "merge:p1+p2+p3"} <= {p["id"] for p in report["rates"]}


def test_records_sharing_an_id_each_say_what_became_of_them(tmp_path, scratch):
    # a folder of manifests read in place: the first of an id is the one checked
    good = list(read_manifest(DEMO / "manifest.jsonl"))[:3]
    gone = Record(id="twin", audio=str(tmp_path / "gone.flac"), duration=2.0, text="打开车窗")
    twin = Record(id="twin", audio=good[1].audio, duration=good[1].duration, text=good[1].text,
                  split="eval_only")
    run = tmp_path / "folder"
    run.mkdir()
    write_manifest(run / "manifest.jsonl", [gone, good[0]])
    write_manifest(run / "eval_only.jsonl", [twin, good[2]])
    res = invoke("qc", run, "--workers", 1)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert re.search(r"gone\.flac \[twin\]: audio not checked \(missing_audio\)", flat), flat
    assert re.search(rf"{re.escape(Path(twin.audio).name)} \[twin\]: not checked "
                     r"\(duplicate_id", flat), flat
    report = json.loads((run / "qc.json").read_text(encoding="utf-8"))
    assert report["records"] == 4 and report["unchecked"] == 2
