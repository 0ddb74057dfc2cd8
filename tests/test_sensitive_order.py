"""Personal data never reaches manifest.jsonl, whatever the stage order: the sensitive stage reads
every record before each stage that rewrites texts and after the last one (build_stages adds the
readings the user's order leaves out), through `curate run` on generated audio."""
import itertools
import json

import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.checks import pii
from curate.cli import app
from curate.engine.discovery import build_stages
from manifests import Record, read_manifest, write_manifest
from tests.audio_gen import speechlike, write

# A mobile number said over two utterances: each half is clean alone, the merged window is not.
HALVES = ("我的电话是一五二六六七七", "八八九九")
CLEAN = ("打开空调", "把温度调到二十四度", "播放下一首", "导航去最近的加油站")


def _manifest(tmp_path, texts, seconds=2.0, **fields) -> str:
    recs = []
    for i, text in enumerate(texts):
        path = write(tmp_path / f"u{i}.wav", speechlike(seconds, seed=i))
        recs.append(Record(id=f"u{i}", audio=path, duration=sf.info(path).duration, text=text,
                           speaker="spk1", **fields))
    write_manifest(tmp_path / "in.jsonl", recs)
    return str(tmp_path / "in.jsonl")


def _run(manifest, out, plugins, *sets):
    args = ["run", manifest, "--plugins", plugins, "--out", str(out), "--workers", "1"]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return list(read_manifest(out / "manifest.jsonl")), list(read_manifest(out / "eval_only.jsonl"))


def _part_ids(rec) -> set[str]:
    return {p["id"] for p in rec.extra.get("parts", [])} or {rec.id}


def test_the_halves_are_clean_alone_and_a_phone_joined():
    assert all(pii.find(h) == [] for h in HALVES)
    assert [h.kind for h in pii.find("".join(HALVES))] == ["phone"]


ORDERS = [",".join(p) for p in itertools.permutations(["vad", "sensitive", "short", "merge30"])]


@pytest.mark.parametrize("plugins", ORDERS)
def test_a_number_split_over_two_utterances_goes_to_eval_only_in_every_order(tmp_path, plugins):
    # The halves first, then clean commands: merge30 packs the halves into one window.
    manifest = _manifest(tmp_path, HALVES + CLEAN)
    kept, eval_only = _run(manifest, tmp_path / "run", plugins)
    windows = [r for r in eval_only if {"u0", "u1"} <= _part_ids(r)]
    assert len(windows) == 1 and windows[0].tags == ["sensitive:phone"]
    assert windows[0].split == "eval_only"
    for r in kept:
        assert not {"u0", "u1"} & _part_ids(r), r.id
        assert pii.find(r.text) == [], r.text
    stages = [s["name"] for s in json.loads((tmp_path / "run" / "run.json").read_text())["stages"]]
    assert "sensitive" in stages[stages.index("merge30"):]  # read after the join


def test_a_number_cut_between_two_windows_is_read_whole_first(tmp_path):
    # 40 s with sentence timestamps; the phone number spans the sentence boundary chunk30 cuts at.
    path = write(tmp_path / "long.wav", speechlike(40.0, seed=7))
    rec = Record(id="long", audio=path, duration=sf.info(path).duration, text="".join(HALVES),
                 segments=[{"start": 0.5, "end": 20.0, "text": HALVES[0]},
                           {"start": 20.5, "end": 39.5, "text": HALVES[1]}])
    write_manifest(tmp_path / "in.jsonl", [rec])
    kept, eval_only = _run(str(tmp_path / "in.jsonl"), tmp_path / "run", "chunk30,sensitive")
    assert kept == [] and sorted(r.id for r in eval_only) == ["long#c0", "long#c1"]
    assert all(r.has_tag("sensitive:phone") for r in eval_only)


@pytest.mark.parametrize("order, expected", [
    ("vad,short", "vad,short,sensitive"),             # none named: the default guard, once
    ("vad,sensitive,short,merge30", "vad,sensitive,short,merge30,sensitive"),
    ("vad,short,merge30,sensitive", "vad,short,sensitive,merge30,sensitive"),
    ("sensitive,chunk30,merge30,noise", "sensitive,chunk30,sensitive,merge30,noise,sensitive"),
    ("chunk30,merge30", "sensitive,chunk30,sensitive,merge30,sensitive"),   # none named
    ("vad,chunk30,sensitive,merge30,sensitive",
     "vad,sensitive,chunk30,sensitive,merge30,sensitive"),
])
def test_build_stages_adds_the_readings_the_order_leaves_out(order, expected):
    names = order.split(",")
    settings = {"sensitive": {"kinds": "phone,id"}}   # also for the guard added by default
    stages = build_stages(names, settings)
    assert ",".join(s.name for s in stages) == expected
    assert all(s.kinds == ("phone", "id") for s in stages if s.name == "sensitive")


def test_the_default_guard_is_left_out_only_when_asked():
    assert [s.name for s in build_stages(["chunk30", "merge30"], {}, guard=False)] == [
        "chunk30", "merge30"]
    # a guard the user names is the one used, wherever it stands
    assert [s.name for s in build_stages(["sensitive", "vad"], {}, guard=False)] == [
        "sensitive", "vad"]
