"""Run directories that never lie: the job a folder holds, one run per folder (a lock), an --out
that would destroy the input refused, and workers that end with the main process."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.cli import app
from curate.engine.lifecycle import LOCK, is_complete
from manifests import Record, read_manifest, write_manifest
from tests.audio_gen import speechlike, write
from tests.cli import install_stage, with_site

SLOW = textwrap.dedent('''
    import time
    from curate.stage import Param, Stage

    class Slow(Stage):
        name, summary = "slow", "sleeps per record"
        params = {"delay": Param("float", 0.1, "seconds per record")}
        needs_audio = False

        def __call__(self, items, ctx):
            for it in items:
                time.sleep(self.delay)
                yield it
''')


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A package registering the `slow` stage under `curate.plugins`, for runs in subprocesses."""
    return install_stage(tmp_path_factory.mktemp("site"), "slow", "Slow", SLOW)


def spawn(args, site, cwd, output=subprocess.PIPE):
    return subprocess.Popen([sys.executable, "-m", "curate", *args], env=with_site(site), cwd=cwd,
                            stdout=output, stderr=output, text=True)


@pytest.fixture
def manifest(tmp_path):
    recs = []
    for i in range(30):
        path = write(tmp_path / f"u{i}.wav", speechlike(1.2, seed=i))
        recs.append(Record(id=f"u{i:02d}", audio=path, duration=sf.info(path).duration,
                           text=f"第{i}句"))
    write_manifest(tmp_path / "in.jsonl", recs)
    return tmp_path / "in.jsonl"


def curate(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, " ".join(res.output.split())


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK}


# --- the job a folder holds ---

def test_same_job_is_complete_another_is_an_error_naming_what_differs(manifest, tmp_path):
    out = tmp_path / "o"
    assert curate("run", manifest, "--plugins", "short", "--out", out, "--workers", 1)[0] == 0
    before = snapshot(out)
    code, said = curate("run", manifest, "--plugins", "short", "--out", out)
    assert code == 0 and f"already complete: {out}" in said
    code, said = curate("run", manifest, "--plugins", "short,merge30", "--seed", 7, "--out", out)
    assert code == 2
    assert f"{out} holds a complete run of another job" in said
    assert "stages short,sensitive → short,sensitive,merge30,sensitive" in said
    assert "seed 0 → 7" in said and "--force" in said
    code, said = curate("run", manifest, "--plugins", "short", "--set", "short.min=1.3",
                        "--out", out)
    assert code == 2 and "short.min 1.0 → 1.3" in said and "seed" not in said
    assert snapshot(out) == before  # refused: nothing touched
    code, said = curate("run", manifest, "--plugins", "short,merge30", "--seed", 7, "--out", out,
                        "--force", "--workers", 1)
    assert code == 0, said
    info = json.loads((out / "run.json").read_text())
    assert [s["name"] for s in info["stages"]] == ["short", "sensitive", "merge30", "sensitive"]
    assert info["seed"] == 7


def test_another_input_is_a_different_job(manifest, tmp_path):
    out = tmp_path / "o"
    assert curate("run", manifest, "--plugins", "short", "--out", out, "--workers", 1)[0] == 0
    other = tmp_path / "other.jsonl"
    write_manifest(other, list(read_manifest(manifest))[:5])
    code, said = curate("run", other, "--plugins", "short", "--out", out)
    assert code == 2 and "input " in said and "(another manifest, or the manifest changed)" in said


def test_qc_out_holding_another_job_is_an_error(manifest, tmp_path):
    out = tmp_path / "o"
    assert curate("run", manifest, "--plugins", "short", "--out", out, "--workers", 1)[0] == 0
    code, said = curate("qc", manifest, "--out", out)
    assert code == 2 and "stages short,sensitive → qc,sensitive" in said
    assert not (out / "report.html").exists()


# --- an --out that would destroy the input ---

def test_out_equal_to_or_inside_the_input_run_is_refused(manifest, tmp_path):
    run = tmp_path / "r"
    assert curate("run", manifest, "--plugins", "short", "--out", run, "--workers", 1)[0] == 0
    before = snapshot(run)
    code, said = curate("run", run, "--plugins", "short,merge30", "--out", run, "--force")
    assert code == 2 and f"--out {run} holds the input" in said
    code, said = curate("run", run, "--plugins", "short", "--out", run / "sub")
    assert code == 2 and "is inside the input run directory" in said
    code, said = curate("qc", run / "manifest.jsonl", "--out", run, "--force")
    assert code == 2 and "holds the input" in said
    assert snapshot(run) == before and not (run / "sub").exists()
    assert len(list(read_manifest(run / "manifest.jsonl"))) == 30


def test_out_holding_audio_the_input_points_at_is_refused(manifest, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert curate("run", manifest, "--plugins", "merge30", "--out", a, "--workers", 1)[0] == 0
    assert curate("run", a, "--plugins", "short", "--out", b, "--workers", 1)[0] == 0
    kept = list(read_manifest(b / "manifest.jsonl"))
    assert kept and all(Path(r.audio).parent == (a / "audio").resolve() for r in kept)
    before = snapshot(a)
    code, said = curate("run", b, "--plugins", "short", "--out", a, "--force")
    assert code == 2 and "holds audio the input's records point at" in said
    assert snapshot(a) == before


def test_a_rerun_into_its_folder_reads_the_input_twice_as_a_first_run_does(manifest, tmp_path,
                                                                           monkeypatch):
    """The check that --out holds none of the input's audio rides on the run's first pass over
    the input: a rerun with --force reads it no more often than the first run (two passes: the
    scan, then the run; 10 M records make a pass cost minutes)."""
    import manifests
    from curate.engine import lifecycle

    passes = []
    read = manifests.read_manifest

    def counted(path, *args, **kwargs):
        if Path(path) == manifest:
            passes.append(path)
        return read(path, *args, **kwargs)

    monkeypatch.setattr(manifests, "read_manifest", counted)
    monkeypatch.setattr(lifecycle, "read_manifest", counted)
    out = tmp_path / "out"
    for extra in ([], ["--force"]):
        passes.clear()
        res = CliRunner().invoke(app, ["run", str(manifest), "--plugins", "short", "--out",
                                       str(out), "--workers", "1", *extra])
        assert res.exit_code == 0, res.output
        assert len(passes) == 2


def test_out_naming_a_file_is_one_clear_error(manifest, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    for command in (["run", manifest, "--plugins", "short"], ["qc", manifest]):
        res = CliRunner().invoke(app, [*map(str, command), "--out", str(f)])
        assert res.exit_code == 2
        assert res.output.strip().splitlines() == [f"error: --out {f} is a file, not a folder; "
                                                   "choose another --out"]
        assert f.read_text() == "keep me"


# --- one run per folder ---

def lock_holder(out: Path) -> str:
    try:
        return (out / LOCK).read_text()
    except OSError:
        return ""


def test_a_second_run_on_a_busy_folder_is_refused(plugin_site, manifest, tmp_path):
    out = tmp_path / "o"
    args = ["run", str(manifest), "--plugins", "slow", "--set", "slow.delay=0.1", "--out",
            str(out), "--workers", "1"]
    first = spawn(args, plugin_site, tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline and not lock_holder(out) and first.poll() is None:
        time.sleep(0.05)
    assert lock_holder(out).split() == [str(first.pid), socket.gethostname()]
    second = spawn(args, plugin_site, tmp_path)
    _, err = second.communicate(timeout=60)
    assert first.poll() is None, "the first run ended before the second was refused"
    assert second.returncode == 2
    assert f"already running (pid {first.pid} on {socket.gethostname()})" in " ".join(err.split())
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert is_complete(out) and len(list(read_manifest(out / "manifest.jsonl"))) == 30
    assert lock_holder(out) == ""  # released


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_note(manifest, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK).write_text("4194304 gone-host\n")  # written, never released: its run was killed
    code, said = curate("run", manifest, "--plugins", "short", "--out", out, "--workers", 1)
    assert code == 0, said
    assert "note: took over the lock of pid 4194304 on gone-host" in said
    assert is_complete(out)


# --- workers end with the main process ---

def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a parent that never reaps it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find workers")
def test_killing_the_main_process_ends_its_workers(plugin_site, manifest, tmp_path):
    out = tmp_path / "o"
    proc = spawn(["run", str(manifest), "--plugins", "slow", "--set", "slow.delay=0.5", "--out",
                  str(out), "--workers", "2"], plugin_site, tmp_path,
                 output=subprocess.DEVNULL)  # orphaned workers would hold a pipe open forever
    deadline = time.time() + 60
    workers: set[int] = set()
    while time.time() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        if len(workers) >= 2 and list(out.glob("shards/.*.tmp")):
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(workers) >= 2, "the run never had its workers busy"
    time.sleep(0.5)  # 30 records x 0.5 s: a worker is mid-block, the other waits for work
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30  # generous: the watcher polls every 0.5 s, PDEATHSIG is at once
    while time.time() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    survivors = [w for w in workers if alive(w)]
    for w in survivors:  # leave no orphan behind when this fails
        os.kill(w, signal.SIGKILL)
    assert not survivors
    assert not is_complete(out)
