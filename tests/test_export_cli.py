"""`curate export` through the command: records a format cannot hold are set aside and counted,
one sample rate for kaldi/hf, a run directory's eval_only records stay out, and an unwritable
place or a full disk is one error line with nothing left behind."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.cli import app
from curate.registry import WORKSPACE_ENV
from tests.audio_gen import speechlike, write

REPO = Path(__file__).resolve().parents[1]


def curate(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def manifest(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


@pytest.fixture
def clips(workspace):
    """Two 2 s clips, at 16 kHz and 8 kHz, and a manifest of both."""
    write(workspace / "wide.wav", speechlike(1.0))
    write(workspace / "narrow.wav", speechlike(1.0, sr=8000), sr=8000)
    return manifest(workspace / "m.jsonl", [
        {"id": "wide", "audio": "wide.wav", "duration": 2.0, "text": "打开空调"},
        {"id": "narrow", "audio": "narrow.wav", "duration": 2.0, "text": "关闭车窗"}])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_kaldi_sets_aside_a_path_with_a_newline_and_says_so(workspace, clips):
    os.link(workspace / "wide.wav", workspace / "two\nlines.wav")
    m = manifest(workspace / "odd.jsonl", [
        *map(json.loads, clips.read_text().splitlines()),
        {"id": "odd", "audio": "two\nlines.wav", "duration": 2.0, "text": "好"}])
    result = curate("export", m, "--format", "kaldi", "--out", "k")
    assert result.exit_code == 0, result.output
    assert "Exported 2 records to k (kaldi, 16000 Hz); 1 set aside." in result.output
    assert "Set aside: 1" in result.output and "[odd]" in result.output
    assert "two\\nlines.wav" in result.output and "holds a line break" in result.output
    wav_scp = (workspace / "k" / "wav.scp").read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in wav_scp] == ["narrow", "wide"]
    assert sf.info(wav_scp[0].split(" ", 1)[1]).samplerate == 16000   # 8 kHz, resampled


def test_sample_rate_option(workspace, clips):
    datasets = pytest.importorskip("datasets")
    result = curate("export", clips, "--format", "hf", "--out", "hf", "--sample-rate", "8000")
    assert result.exit_code == 0, result.output
    assert "(hf, 8000 Hz)" in result.output
    ds = datasets.load_from_disk("hf")
    assert [row["audio"]["sampling_rate"] for row in ds] == [8000, 8000]
    assert [len(row["audio"]["array"]) for row in ds] == [16000, 16000]
    result = curate("export", clips, "--format", "nemo", "--out", "m.json", "--sample-rate", "8000")
    assert result.exit_code == 2 and "--sample-rate applies to kaldi and hf" in result.output
    assert not (workspace / "m.json").exists()


def test_run_directory_exports_its_manifest_never_eval_only(workspace, clips):
    run = workspace / "run"
    run.mkdir()
    wide, narrow = clips.read_text().splitlines()
    (run / "manifest.jsonl").write_text(wide.replace('"wide.wav"', '"../wide.wav"') + "\n")
    (run / "eval_only.jsonl").write_text(
        narrow.replace('"narrow.wav"', '"../narrow.wav"')[:-1] + ', "split": "eval_only"}\n')
    assert curate("export", run, "--format", "wenet", "--out", "train.list").exit_code == 0
    assert [json.loads(x)["key"] for x in Path("train.list").read_text().splitlines()] == ["wide"]
    result = curate("export", run / "eval_only.jsonl", "--format", "wenet", "--out", "eval.list")
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["key"] for x in Path("eval.list").read_text().splitlines()] == [
        "narrow"]


@pytest.mark.parametrize("fmt,name", [("nemo", "m.json"), ("kaldi", "k")])
def test_unwritable_out_is_one_error_line(workspace, clips, fmt, name):
    (workspace / "afile").write_text("not a folder")
    result = curate("export", clips, "--format", fmt, "--out", f"afile/{name}")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: cannot write afile/{name}: afile is not a folder"]
    assert "Traceback" not in result.output and leftovers(workspace) == []


def test_out_that_is_a_device_is_refused(workspace, clips):
    if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("no /dev/full on this system")
    result = curate("export", clips, "--format", "nemo", "--out", "/dev/full")
    assert result.exit_code == 2 and "--force" in result.output
    result = curate("export", clips, "--format", "nemo", "--out", "/dev/full", "--force")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: /dev/full is not a regular file or folder; name a file or folder to write"]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)      # still the device


# Runs the command with the process's file size capped (RLIMIT_FSIZE): a write past the cap fails
# with EFBIG, as a write to a full disk fails with ENOSPC, in the real write path.
CAPPED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a failed write, not a killed process
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
from curate.cli import main
sys.argv = ["curate", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("fmt", ["nemo", "kaldi", "hf"])
def test_full_disk_is_one_error_line_and_leaves_nothing(workspace, fmt):
    if fmt == "hf":
        pytest.importorskip("datasets")
    write(workspace / "long.wav", speechlike(9.0, sr=8000), sr=8000)   # 10 s: 320 kB at 16 kHz
    records = [{"id": f"u{i:04d}", "audio": "long.wav", "duration": 10.0, "text": "打开空调" * 4}
               for i in range(1 if fmt != "nemo" else 1000)]              # nemo: ~150 kB of text
    m = manifest(workspace / "big.jsonl", records)
    out = workspace / "out"
    proc = subprocess.run([sys.executable, "-c", CAPPED, "export", str(m), "--format", fmt,
                           "--out", str(out)], capture_output=True, text=True, cwd=workspace,
                          env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"},
                          timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {out}: "), proc.stderr
    assert "File too large" in lines[0] and "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists() and leftovers(workspace) == []
