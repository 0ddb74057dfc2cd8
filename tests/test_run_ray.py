"""--engine ray: the same stages, one Ray task per shard, into the same run folder, with the same
bytes as --engine local for any --workers."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app

ray = pytest.importorskip("ray")
runner = CliRunner()
DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"
PLUGINS = ["--plugins", "vad,short,chunk30,merge30,noise", "--shard-hours", "0.02"]  # 72 s shards


@pytest.fixture(scope="module")
def single_node_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("run.json", ".curate-lock", ".curate-run")}


def run(out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["run", str(DEMO), *PLUGINS, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "run.json").read_text())


def test_ray_writes_the_bytes_local_writes(single_node_ray, tmp_path):
    on_ray = run(tmp_path / "ray", "--engine", "ray", "--workers", "2")
    local = run(tmp_path / "local", "--workers", "1")
    assert on_ray["engine"] == "ray" and local["engine"] == "local"
    assert on_ray["shards"]["total"] == local["shards"]["total"] > 3
    assert on_ray["accounting"] == local["accounting"] and on_ray["files"] == local["files"]
    ray_files, local_files = files(tmp_path / "ray"), files(tmp_path / "local")
    assert any(name.startswith("audio/") for name in ray_files)   # merged and noisy audio
    assert ray_files == local_files
    assert ray.is_initialized()  # curate used the test's Ray and left it running
