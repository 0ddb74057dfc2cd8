"""The dataset registry: workspace file, portable paths, the import cache and when it is redone,
and resolve_manifest for names, demo, manifest files and run directories."""
import json
import os
import shutil

import pytest

from curate.registry import (WORKSPACE_ENV, Dataset, RegistryError, Workspace, check_name,
                             import_dataset, resolve_manifest)
from manifests import read_manifest
from tests.audio_gen import speechlike, write


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A team folder holding a Kaldi dir; the working directory is the folder."""
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    root = tmp_path / "team"
    d = root / "data" / "w5"
    d.mkdir(parents=True)
    write(d / "r1.flac", speechlike(5, seed=1))     # 6 s
    (d / "wav.scp").write_text(f"r1 {d / 'r1.flac'}\n")
    (d / "segments").write_text("u1 r1 0.0 2.5\nu2 r1 2.5 6.0\n")
    (d / "text").write_text("u1 打开导航\nu2 关闭音乐\n")
    monkeypatch.chdir(root)
    return Workspace.current()


def register(ws, name="w5", source="data/w5", fmt="kaldi", hyp=None):
    dataset = Dataset(name, (ws.root / source).resolve(), fmt, hyp)
    report = import_dataset(ws, dataset)
    datasets = ws.load()
    datasets[name] = dataset
    ws.save(datasets)
    return report


def test_workspace_file_stores_portable_paths(ws, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(ws.root / "data" / "w5", outside)
    register(ws)
    register(ws, "far", str(outside))
    stored = json.loads((ws.root / "curate-datasets.json").read_text())["datasets"]
    assert stored["w5"] == {"source": "data/w5", "format": "kaldi", "hyp": None}
    assert stored["far"]["source"] == str(outside)
    assert ws.load()["w5"].source == ws.root / "data" / "w5"


def test_import_report_and_cache(ws):
    report = register(ws)
    assert (report.records, report.labelled, len(report.problems)) == (2, 2, 0)
    assert report.seconds == pytest.approx(6.0)
    manifest = ws.root / ".curate" / "datasets" / "w5" / "manifest.jsonl"
    assert resolve_manifest("w5") == manifest
    assert [r.id for r in read_manifest(manifest)] == ["u1", "u2"]
    assert (ws.root / ".curate" / ".gitignore").read_text() == "*\n"


def test_cache_is_reused_then_redone_when_missing_or_changed(ws):
    register(ws)
    manifest = resolve_manifest("w5")
    stamp = manifest.stat().st_mtime_ns
    assert resolve_manifest("w5").stat().st_mtime_ns == stamp        # fresh: not re-imported
    manifest.unlink()
    assert [r.text for r in read_manifest(resolve_manifest("w5"))] == ["打开导航", "关闭音乐"]
    text = ws.root / "data" / "w5" / "text"
    text.write_text("u1 打开导航到公司\nu2 关闭音乐\n")
    os.utime(text, ns=(stamp + 10**9, stamp + 10**9))
    assert [r.text for r in read_manifest(resolve_manifest("w5"))][0] == "打开导航到公司"


def test_workspace_moves_with_the_team_folder(ws, tmp_path, monkeypatch):
    register(ws)
    moved = tmp_path / "clone"
    shutil.copytree(ws.root, moved, ignore=shutil.ignore_patterns(".curate"))
    # the clone's wav.scp still names the old absolute path; point it at the clone's copy
    scp = moved / "data" / "w5" / "wav.scp"
    scp.write_text(f"r1 {moved / 'data' / 'w5' / 'r1.flac'}\n")
    monkeypatch.chdir(moved)
    manifest = resolve_manifest("w5")
    assert manifest == moved / ".curate" / "datasets" / "w5" / "manifest.jsonl"
    assert next(read_manifest(manifest)).audio == str(moved / "data" / "w5" / "r1.flac")


def test_env_var_names_the_workspace_file(ws, tmp_path, monkeypatch):
    other = tmp_path / "other" / "datasets.json"
    monkeypatch.setenv(WORKSPACE_ENV, str(other))
    ws2 = Workspace.current()
    assert ws2.path == other
    register(ws2, source=str(ws.root / "data" / "w5"))
    assert other.is_file() and not (ws.root / "curate-datasets.json").exists()
    cache = tmp_path / "other" / ".curate" / "datasets" / "w5"
    assert resolve_manifest("w5") == cache / "manifest.jsonl"
    monkeypatch.setenv(WORKSPACE_ENV, str(tmp_path / "other"))   # a folder: the default name in it
    assert Workspace.current().path == tmp_path / "other" / "curate-datasets.json"


def test_resolve_demo_files_and_run_dirs(ws, tmp_path):
    demo = resolve_manifest("demo")
    assert demo.name == "manifest.jsonl" and demo.parent.name == "demo"
    run = tmp_path / "runs" / "w5" / "abc"
    run.mkdir(parents=True)
    (run / "manifest.jsonl").write_text("")
    assert resolve_manifest(str(run)) == run / "manifest.jsonl"
    assert resolve_manifest(str(run / "manifest.jsonl")) == run / "manifest.jsonl"
    with pytest.raises(RegistryError, match="holds no manifest.jsonl"):
        resolve_manifest(str(tmp_path))
    with pytest.raises(RegistryError, match="not a manifest"):
        resolve_manifest(str(ws.root / "data" / "w5" / "text"))


def test_unknown_name_lists_known_datasets(ws):
    register(ws)
    with pytest.raises(RegistryError) as e:
        resolve_manifest("w6")
    assert "unknown dataset 'w6'" in str(e.value) and "demo, w5" in str(e.value)


def test_source_gone_or_unusable(ws):
    register(ws)
    shutil.rmtree(ws.root / "data" / "w5")
    with pytest.raises(RegistryError, match="does not exist any more"):
        resolve_manifest("w5")


def test_nothing_usable_writes_nothing(ws):
    (ws.root / "data" / "w5" / "r1.flac").unlink()
    report = import_dataset(ws, Dataset("w5", ws.root / "data" / "w5", "kaldi"))
    assert report.records == 0 and len(report.problems) == 3   # wav.scp line + 2 segments
    assert not (ws.root / ".curate" / "datasets" / "w5").exists()


def test_names_and_broken_workspace_file(ws):
    for bad in ("demo", "a/b", "", "-x", "has space"):
        with pytest.raises(RegistryError):
            check_name(bad)
    check_name("wenet_5h.v2")
    ws.path.write_text("{not json")
    with pytest.raises(RegistryError, match="curate-datasets.json: not a valid"):
        ws.load()


def test_remove_deletes_cache_not_source(ws):
    register(ws)
    ws.remove("w5")
    assert ws.load() == {} and not ws.cache("w5").exists()
    assert (ws.root / "data" / "w5" / "wav.scp").exists()
    with pytest.raises(RegistryError, match="unknown dataset"):
        ws.remove("w5")
