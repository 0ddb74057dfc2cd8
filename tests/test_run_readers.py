"""Every reader of a run directory refuses one that is not complete, or whose manifests are not
the files the run wrote: a kill between the manifests and run.json, or a manifest edited since."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app
from manifests import read_manifest, write_manifest
from manifests.rundir import RunDirError, open_run, sha256_of
from curate.checks.pii import find

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"
runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A complete run of ten short labelled demo clips, with Base1 hyps, two of them eval-only."""
    folder = tmp_path_factory.mktemp("readers")
    # records holding no personal data: the two eval-only ones are made so by hand
    records = [r for r in read_manifest(DEMO) if 1.0 < r.duration < 8 and r.text and r.hyp
               and not r.tags and not find(r.text) and not find(r.hyp)][:10]
    for r in records[:2]:
        r.split = "eval_only"
    write_manifest(folder / "input.jsonl", records)
    out = folder / "run"
    result = runner.invoke(app, ["run", str(folder / "input.jsonl"), "--plugins", "short",
                                 "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    (folder / "hyp.tsv").write_text("".join(f"{r.id}\t{r.hyp}\n" for r in records),
                                    encoding="utf-8")
    return out, records


def readers(run_dir: Path, tmp: Path, hyp: Path) -> dict[str, list[str]]:
    """The commands that read a run directory, each pointed at ``run_dir``."""
    return {
        "export": ["export", str(run_dir), "--format", "nemo", "--out", str(tmp / "x.json")],
        "cer": ["cer", "--ref", str(run_dir), "--hyp", f"base1={hyp}"],
        "qc": ["qc", str(run_dir), "--out", str(tmp / "qc")],
        "run": ["run", str(run_dir), "--plugins", "short", "--out", str(tmp / "again")],
        "datasets show": ["datasets", "show", str(run_dir)],
        "train": ["train", "--model", "tiny:8", "--data", str(run_dir), "--max-steps", "1",
                  "--out", str(tmp / "ckpt")],
        "infer": ["infer", "--model", str(tmp / "no-model"), "--data", str(run_dir),
                  "--out", str(tmp / "h.tsv")],
    }


def test_run_json_records_each_manifest_as_written(run):
    out, records = run
    info = open_run(out).info
    for name, rows in (("manifest.jsonl", 8), ("eval_only.jsonl", 2), ("rejected.jsonl", 0)):
        assert info["files"][name] == {"rows": rows, "sha256": sha256_of(out / name)}


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for child in src.iterdir():
        if child.is_file():
            (dst / child.name).write_bytes(child.read_bytes())
    return dst


@pytest.mark.parametrize("damage", ["no run.json", "not complete", "manifest edited",
                                    "eval_only truncated", "no checksums"])
def test_every_reader_refuses_a_run_it_cannot_trust(run, tmp_path, damage):
    out, _ = run
    bad = copy_run(out, tmp_path / "bad")
    info = json.loads((bad / "run.json").read_text())
    if damage == "no run.json":     # killed after the manifests moved into place
        (bad / "run.json").unlink()
    elif damage == "not complete":
        (bad / "run.json").write_text(json.dumps({**info, "status": "running"}))
    elif damage == "manifest edited":
        with open(bad / "manifest.jsonl", "a", encoding="utf-8") as f:
            f.write((bad / "eval_only.jsonl").read_text(encoding="utf-8"))
    elif damage == "eval_only truncated":
        (bad / "eval_only.jsonl").write_bytes((bad / "eval_only.jsonl").read_bytes()[:50])
    else:                            # a run.json from before checksums were recorded
        del info["files"]
        (bad / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunDirError):
        open_run(bad)
    for name, args in readers(bad, tmp_path, out.parent / "hyp.tsv").items():
        result = runner.invoke(app, args)
        assert result.exit_code != 0, (name, result.output)
        said = " ".join(result.output.split())
        assert str(bad) in said and ("complete" in said or "sha256" in said
                                     or "checksums" in said), (name, said)
        assert "Traceback" not in result.output, name
    # a manifest file of that run, named on its own, is held to the same check
    result = runner.invoke(app, ["export", str(bad / "manifest.jsonl"), "--format", "nemo",
                                 "--out", str(tmp_path / "y.json")])
    assert result.exit_code != 0 and not (tmp_path / "y.json").exists(), result.output


def test_a_complete_run_is_read_by_every_reader(run, tmp_path):
    out, records = run
    res = runner.invoke(app, ["cer", "--ref", str(out), "--hyp",
                              f"base1={out.parent / 'hyp.tsv'}", "--out", str(tmp_path / "cer")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "cer" / "summary.json").read_text())
    assert summary["reference"]["utterances"] == len(records)   # manifest + eval_only
    res = runner.invoke(app, ["export", str(out), "--format", "nemo",
                              "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "x.json").read_text().splitlines()) == 8   # never eval_only


def test_export_never_replaces_the_run_it_reads(run, tmp_path):
    """`curate export RUN --out RUN --force` would delete the run's audio and manifests."""
    out, _ = run
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for dest in (out, out / "manifest.jsonl"):
        res = runner.invoke(app, ["export", str(out), "--format", "kaldi", "--out", str(dest),
                                  "--force"])
        assert res.exit_code == 2, res.output
        assert "choose another --out" in " ".join(res.output.split())
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    open_run(out)  # still complete and as written
