"""How `curate run` cuts its input into shards: never inside a group a stage packs by
(``Stage.groups_by``), repeated input rows counted in "records in", and the input read once for
repeated ids and the progress total together."""
import json

import pytest
import soundfile as sf

import manifests
from curate.engine.executor import shards
from curate.stage import Item, Stage
from manifests import Record, read_manifest, write_manifest
from plugins.merge30 import Merge30
from tests.audio_gen import speechlike, write
from tests.cli import ok

# speaker → records of 2 s each; "a" comes back at the end, apart from its first run
GROUPS = [("a", 4), ("b", 3), ("c", 12), ("d", 2), ("e", 5), ("a", 2)]
SHARD_HOURS = "0.002"  # 7.2 s: less than every group but b's and d's


@pytest.fixture(scope="module")
def speakers(tmp_path_factory):
    base = tmp_path_factory.mktemp("speakers")
    recs, n = [], 0
    for speaker, count in GROUPS:
        for _ in range(count):
            path = write(base / f"u{n}.wav", speechlike(1.0, seed=n))  # 0.5 + 1 + 0.5 s
            recs.append(Record(id=f"{speaker}{n:02d}", audio=path,
                               duration=sf.info(path).duration, text=f"第{n}句", speaker=speaker))
            n += 1
    write_manifest(base / "in.jsonl", recs)
    return base / "in.jsonl"


def curate_run(manifest, out, *args):
    ok(["run", str(manifest), "--out", str(out), *args])
    return json.loads((out / "run.json").read_text())


def test_a_speakers_records_are_merged_the_same_whatever_the_shard_size(speakers, tmp_path):
    common = ["--plugins", "merge30", "--set", "merge30.group_by=speaker"]
    whole = curate_run(speakers, tmp_path / "whole", *common, "--workers", "1")
    small = curate_run(speakers, tmp_path / "small", *common, "--shard-hours", SHARD_HOURS,
                       "--workers", "2")
    assert whole["shards"]["total"] == 1 and "input" not in whole["per_stage"]  # no repeats
    # a | b+c (c alone is 24 s: one larger shard) | d+e | a: cut only where the speaker changes
    assert small["shards"]["total"] == 4
    for name in ("manifest.jsonl", "eval_only.jsonl", "rejected.jsonl"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "small" / name).read_bytes()
    audio = sorted(p.name for p in (tmp_path / "whole" / "audio").iterdir())
    assert audio == sorted(p.name for p in (tmp_path / "small" / "audio").iterdir())
    for name in audio:
        assert ((tmp_path / "whole" / "audio" / name).read_bytes()
                == (tmp_path / "small" / "audio" / name).read_bytes())
    # each run of a speaker packed whole (c into 29 s + 3 s), the two runs of a apart
    kept = list(read_manifest(tmp_path / "small" / "manifest.jsonl"))
    assert [(len(r.extra["parts"]), r.speaker) for r in kept] == [
        (4, "a"), (3, "b"), (10, "c"), (2, "c"), (2, "d"), (5, "e"), (2, "a")]


def test_without_grouping_shards_cut_by_seconds_alone(speakers, tmp_path):
    info = curate_run(speakers, tmp_path / "run", "--plugins", "merge30", "--shard-hours",
                      SHARD_HOURS, "--workers", "1")
    assert info["shards"]["total"] == 7  # 28 records of 2 s, four (8 s) a shard
    kept = list(read_manifest(tmp_path / "run" / "manifest.jsonl"))
    assert all(len(r.extra["parts"]) == 4 for r in kept)  # windows stop where shards end


def item(rid: str, seconds: float, speaker=None, rejected=False) -> Item:
    it = Item(Record(id=rid, audio="/x.wav", duration=seconds, speaker=speaker), None)
    return it.reject("input", "duplicate_id") if rejected else it


def cut(items, seconds, group_by=()):
    return [[it.record.id for it in shard] for shard, _ in shards(items, seconds, group_by)]


def test_shards_never_cut_inside_a_run_of_equal_values():
    items = [item("a1", 2, "a"), item("a2", 2, "a"), item("b1", 2, "b"), item("b2", 2, "b"),
             item("b3", 2, "b"), item("c1", 2, "c"), item("n1", 2), item("n2", 2)]
    assert cut(items, 3) == [["a1", "a2"], ["b1", "b2"], ["b3", "c1"], ["n1", "n2"]]
    assert cut(items, 3, ("speaker",)) == [["a1", "a2"], ["b1", "b2", "b3"], ["c1", "n1", "n2"]]
    # one group longer than every shard: one shard; a record without the field is a None value
    assert cut(items, 100, ("speaker",)) == [[it.record.id for it in items]]
    # the plan is the input's alone: the same every time it is made
    assert cut(items, 3, ("speaker",)) == cut(list(items), 3, ("speaker",))


def test_rows_already_rejected_ride_along_and_count_for_progress_only():
    items = [item("a1", 2, "a"), item("a2", 2, "a"), item("a1", 2, "a", rejected=True),
             item("b1", 2, "b"), item("a2", 2, "b", rejected=True)]
    plan = list(shards(items, 3, ("speaker",)))
    assert [[it.record.id for it in s] for s, _ in plan] == [["a1", "a2", "a1"], ["b1", "a2"]]
    assert [seconds for _, seconds in plan] == [6, 4]  # every row, as the progress total has it


def test_several_grouping_stages_cut_only_where_every_field_changes():
    items = [item("1", 2, "a"), item("2", 2, "b"), item("3", 2, "c")]
    for it, batch in zip(items, ["x", "x", "y"]):
        it.record.batch = batch
    assert cut(items, 1, ("speaker", "batch")) == [["1", "2"], ["3"]]


def test_the_contract_default_groups_nothing_and_merge30_names_its_field():
    class Plain(Stage):
        name, summary = "plain", "passes records through"

        def __call__(self, items, ctx):
            yield from items

    assert Plain().groups_by() is None
    assert Merge30().groups_by() is None and Merge30(group_by="speaker").groups_by() == "speaker"


def test_repeated_input_rows_are_counted_in_records_in(tmp_path):
    recs = []
    for i, rid in enumerate(["x", "y", "x", "z", "x"]):
        path = write(tmp_path / f"u{i}.wav", speechlike(1.0, seed=i))
        recs.append(Record(id=rid, audio=path, duration=sf.info(path).duration))
    write_manifest(tmp_path / "in.jsonl", recs)
    out = tmp_path / "run"
    output = ok(["run", str(tmp_path / "in.jsonl"), "--plugins", "gain", "--out", str(out),
                 "--workers", "1"])
    acc = json.loads((out / "run.json").read_text())["accounting"]
    assert acc["input_records"] == 5
    assert acc["records"] == {"kept": 3, "eval_only": 0, "rejected": 2}
    assert acc["rows"]["rejected"] == 2 and acc["rejected_reasons"] == {"duplicate_id": 2}
    assert acc["input_hours"] == pytest.approx(sum(acc["hours"].values()), abs=3e-6)
    output = " ".join(output.split())
    assert "records 5 in = 3 kept + 0 eval_only + 2 rejected" in output
    # and the stage table says where they went
    per_stage = json.loads((out / "run.json").read_text())["per_stage"]
    assert list(per_stage) == ["input", "decode", "0:gain", "1:sensitive", "write"]
    assert {k: per_stage["input"][k] for k in ("records_in", "records_out", "records_dropped",
                                                "reasons")} == {
        "records_in": 5, "records_out": 3, "records_dropped": 2, "reasons": {"duplicate_id": 2}}
    assert "dropped: input duplicate_id 2" in output


def test_a_run_reads_its_input_twice(speakers, tmp_path, monkeypatch):
    """Once for repeated ids and the progress total, once to run (merge30 has no pre-pass)."""
    reads = []
    real = manifests.read_manifest

    def counting(path, *args, **kw):
        reads.append(str(path))
        return real(path, *args, **kw)

    monkeypatch.setattr(manifests, "read_manifest", counting)
    curate_run(speakers, tmp_path / "run", "--plugins", "merge30", "--workers", "1")
    assert reads.count(str(speakers)) == 2
