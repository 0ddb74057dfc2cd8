"""`curate plugins` / `curate run` through the real entry points: a third-party stage package,
parameter validation, and a run killed with SIGKILL."""
import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import soundfile as sf

from manifests import Record, read_manifest, write_manifest
from tests.audio_gen import speechlike, write
from tests.cli import install_stage, with_site

PLUGIN = textwrap.dedent('''
    import time
    from curate.stage import Param, Stage

    class Shout(Stage):
        """Appends a marker to every label."""
        name = "shout"
        summary = "appends a marker to each label"
        params = {"mark": Param("str", "!", "text appended to the label"),
                  "delay": Param("float", 0.0, "seconds to sleep per record")}

        def __call__(self, items, ctx):
            for it in items:
                time.sleep(self.delay)
                it.record.text += self.mark
                it.record.lineage.append(self.lineage())
                yield it
''')


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A third-party package that registers a stage under `curate.plugins`, installed on a path."""
    return install_stage(tmp_path_factory.mktemp("site"), "shout", "Shout", PLUGIN)


def curate(args, site, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "curate", *args], env=with_site(site), cwd=cwd,
                          capture_output=True, text=True, **kw)


@pytest.fixture
def manifest(tmp_path):
    recs = []
    for i in range(40):
        path = write(tmp_path / f"u{i}.wav", speechlike(1.5, seed=i))
        recs.append(Record(id=f"u{i:02d}", audio=path, duration=sf.info(path).duration, text=f"第{i}句"))
    write_manifest(tmp_path / "in.jsonl", recs)
    return tmp_path / "in.jsonl"


def test_third_party_stage_is_listed_and_runs(plugin_site, manifest, tmp_path):
    listing = curate(["plugins"], plugin_site, tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "shout" in listing.stdout and "shout.mark" in listing.stdout
    out = tmp_path / "run"
    res = curate(["run", str(manifest), "--plugins", "shout", "--set", "shout.mark=？",
                  "--out", str(out), "--workers", "2"], plugin_site, tmp_path)
    assert res.returncode == 0, res.stderr
    kept = list(read_manifest(out / "manifest.jsonl"))
    assert len(kept) == 40 and all(r.text.endswith("？") for r in kept)
    assert kept[0].lineage == [{"stage": "shout", "mark": "？", "delay": 0.0}]
    info = json.loads((out / "run.json").read_text())
    # the personal-data guard every pipeline gets when it names none, after the last stage
    assert [s["name"] for s in info["stages"]] == ["shout", "sensitive"]
    assert info["stages"][0] == {"name": "shout", "params": {"mark": "？", "delay": 0.0}}


@pytest.mark.parametrize("args, message", [
    (["--plugins", "nosuch"], "unknown stage 'nosuch'; available:"),
    (["--plugins", "shout", "--set", "shout.volume=3"], "has no parameter volume; valid: delay, mark"),
    (["--plugins", "shout", "--set", "shout.delay=soon"], "shout.delay: expected float"),
    (["--plugins", "shout", "--set", "other.x=1"], "not in the pipeline: other"),
    (["--plugins", "shout", "--set", "oops"], "STAGE.PARAM=VALUE"),
])
def test_bad_parameters_fail_before_any_audio(plugin_site, manifest, tmp_path, args, message):
    out = tmp_path / "run"
    res = curate(["run", str(manifest), *args, "--out", str(out)], plugin_site, tmp_path)
    assert res.returncode == 2
    assert message in " ".join(res.stderr.split())
    assert not out.exists()


def test_pipeline_file(plugin_site, manifest, tmp_path):
    (tmp_path / "p.toml").write_text('plugins = ["shout"]\nseed = 3\n[shout]\nmark = "。"\n')
    out = tmp_path / "run"
    res = curate(["run", str(manifest), "--pipeline", "p.toml", "--out", str(out)], plugin_site,
                 tmp_path)
    assert res.returncode == 0, res.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 3 and info["stages"][0]["params"]["mark"] == "。"


def run_files(out) -> dict[str, bytes]:
    """Every file a run leaves, but run.json (wall times), by path within the run folder."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("run.json", ".curate-lock")}


def test_sigkill_then_rerun_resumes_with_the_same_bytes(plugin_site, manifest, tmp_path):
    """A run killed with SIGKILL mid-way leaves no manifest and no run.json; rerunning the same
    command reuses the finished shards, computes the rest, and writes exactly the bytes of an
    uninterrupted run."""
    common = ["--plugins", "shout,noise", "--set", "shout.delay=0.05", "--shard-hours", "0.0025",
              "--workers", "1"]   # 9 s shards: four 2.5 s records each, 10 shards
    whole = tmp_path / "whole"
    res = curate(["run", str(manifest), *common, "--out", str(whole)], plugin_site, tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads((whole / "run.json").read_text())["shards"] == {
        "total": 10, "reused": 0, "computed": 10}

    out = tmp_path / "killed"
    args = ["run", str(manifest), *common, "--out", str(out)]
    env = with_site(plugin_site)
    proc = subprocess.Popen([sys.executable, "-m", "curate", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "shards" / "000002").exists():
        time.sleep(0.02)  # three shards finished, seven to go (4 x 0.05 s each)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.jsonl").exists() and not (out / "run.json").exists()

    res = curate(args, plugin_site, tmp_path)
    assert res.returncode == 0, res.stderr
    shards = json.loads((out / "run.json").read_text())["shards"]
    assert shards["total"] == 10 and shards["reused"] >= 3 and shards["computed"] >= 1
    assert shards["reused"] + shards["computed"] == 10
    assert f"{shards['reused']} of 10 shards reused" in " ".join(res.stderr.split())
    assert run_files(out) == run_files(whole)   # manifests, audio, marker: the same bytes
    assert not list(out.rglob("*.tmp")) and not (out / "shards").exists()
    assert len(list(read_manifest(out / "manifest.jsonl"))) == 40

