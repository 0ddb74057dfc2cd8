"""The executor: routing, accounting, changed-audio writing, determinism across workers, bad audio."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from curate.engine.executor import run_pipeline
from curate.engine.lifecycle import is_complete
from curate.stage import Item, Param, Stage
from manifests import Record, read_manifest, write_manifest
from tests.audio_gen import speechlike, write


class Gain(Stage):
    """Scales audio by a seeded random gain: exercises changed audio, seeding and lineage."""
    name, summary = "gain", "random gain"
    params = {"db": Param("range", (-6.0, -1.0), "gain range in dB")}

    def __call__(self, items, ctx):
        for it in items:
            db = float(ctx.rng(self.name, it.record.id).uniform(*self.db))
            it.audio = it.audio * np.float32(10 ** (db / 20))
            it.changed = True
            it.record.lineage.append(self.lineage(drawn_db=round(db, 4)))
            yield it


class DropTagged(Stage):
    name, summary = "drop_tagged", "rejects records tagged 'bad'; routes 'pii' to eval_only"
    params = {}

    def __call__(self, items, ctx):
        for it in items:
            if "bad" in it.record.tags:
                it.reject(self.name, "tagged_bad")
            elif "pii" in it.record.tags:
                it.record.split = "eval_only"
            yield it


class Pairs(Stage):
    """A stream stage packing consecutive pairs, like a tiny merge30."""
    name, summary = "pairs", "pack pairs"
    params = {}

    def __call__(self, items, ctx):
        buf = []
        for it in items:
            buf.append(it)
            if len(buf) == 2:
                a, b = buf
                rec = Record(id=f"merge:{a.record.id}+{b.record.id}", audio=a.record.audio,
                             duration=a.duration + b.duration, text=a.record.text + b.record.text,
                             extra={"parts": [{"id": a.record.id}, {"id": b.record.id}]})
                yield Item.merge([a, b], rec, np.concatenate([a.audio, b.audio]))
                buf = []
        yield from buf


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    recs = []
    for i in range(8):
        path = write(src / f"u{i}.wav", speechlike(2.0 + 0.1 * i, seed=i))
        tags = ["bad"] if i == 3 else ["pii"] if i == 5 else []
        recs.append(Record(id=f"u{i}", audio=path, duration=sf.info(path).duration, text=f"句{i}",
                           tags=tags))
    # bad audio: missing, empty, corrupt, silent
    (src / "empty.wav").write_bytes(b"")
    (src / "corrupt.wav").write_bytes(b"RIFF....WAVEnot really audio" * 10)
    write(src / "silent.wav", np.zeros(16000, np.float32))
    for name, dur in [("missing", 1.0), ("empty", 1.0), ("corrupt", 1.0), ("silent", 1.0)]:
        recs.append(Record(id=name, audio=str(src / f"{name}.wav"), duration=dur, text="x"))
    manifest = tmp_path / "in.jsonl"
    write_manifest(manifest, recs)
    return manifest


def _run(manifest, out, stages, workers=1, seed=0, shard_seconds=1800.0):
    return run_pipeline(lambda: read_manifest(manifest), stages, out, seed=seed, workers=workers,
                        shard_seconds=shard_seconds)


def test_routing_accounting_and_bad_audio(corpus, tmp_path):
    out = tmp_path / "run"
    info = _run(corpus, out, [DropTagged()])
    kept = list(read_manifest(out / "manifest.jsonl"))
    evals = list(read_manifest(out / "eval_only.jsonl"))
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [r.id for r in evals] == ["u5"]
    assert "u3" not in {r.id for r in kept} and "u5" not in {r.id for r in kept}
    reasons = {r["id"]: (r["reason"], r["stage"]) for r in rejected}
    assert reasons == {"u3": ("tagged_bad", "drop_tagged"), "missing": ("missing_audio", "decode"),
                       "empty": ("empty_audio", "decode"), "corrupt": ("corrupt_audio", "decode"),
                       "silent": ("silent_audio", "decode")}
    acc = info["accounting"]
    assert acc["input_records"] == 12
    assert acc["records"] == {"kept": 6, "eval_only": 1, "rejected": 5}
    # each figure is rounded to 6 places (half a unit off at most): the three parts and the total
    assert sum(acc["hours"].values()) == pytest.approx(acc["input_hours"], abs=4 * 0.5e-6)
    # unchanged records still point at their source audio
    assert all(Path(r.audio).parent.name == "src" for r in kept)
    assert is_complete(out)


def test_changed_audio_written_once_and_stream_stage_accounting(corpus, tmp_path):
    out = tmp_path / "run"
    info = _run(corpus, out, [DropTagged(), Pairs(), Gain()])
    kept = list(read_manifest(out / "manifest.jsonl"))
    merged = [r for r in kept if r.id.startswith("merge:")]
    assert len(merged) == 3  # u0+u1, u2+u4, u5+u6 (u3 was rejected; u7 is left alone)
    for r in kept:
        assert Path(r.audio).parent == (out / "audio").resolve()
        data, sr = sf.read(r.audio)
        assert sr == 16000 and len(data) / sr == pytest.approx(r.duration, abs=1e-3)
        assert r.lineage[-1]["stage"] == "gain" and -6 <= r.lineage[-1]["drawn_db"] <= -1
    # every input merged into a kept window counts as kept
    acc = info["accounting"]
    assert acc["records"]["kept"] + acc["records"]["eval_only"] + acc["records"]["rejected"] == 12
    assert acc["records"]["rejected"] == 5
    stage_stats = info["per_stage"]
    assert stage_stats["1:pairs"]["records_in"] == 7 and stage_stats["1:pairs"]["records_out"] == 4


def test_same_output_for_any_workers_and_rerun(corpus, tmp_path):
    stages = lambda: [DropTagged(), Pairs(), Gain()]  # noqa: E731
    _run(corpus, tmp_path / "a", stages(), workers=1, seed=7)
    _run(corpus, tmp_path / "b", stages(), workers=2, seed=7)
    _run(corpus, tmp_path / "c", stages(), workers=2, seed=7)
    for name in ("manifest.jsonl", "eval_only.jsonl", "rejected.jsonl"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    for f in (tmp_path / "a" / "audio").iterdir():
        assert f.read_bytes() == (tmp_path / "b" / "audio" / f.name).read_bytes()
    _run(corpus, tmp_path / "d", stages(), workers=1, seed=8)
    assert (tmp_path / "d" / "manifest.jsonl").read_bytes() != (tmp_path / "a" / "manifest.jsonl").read_bytes()


def test_failure_leaves_no_complete_manifest(corpus, tmp_path):
    class Boom(Stage):
        name, summary, params = "boom", "fails on u6", {}

        def __call__(self, items, ctx):
            for it in items:
                if it.record.id == "u6":
                    raise KeyboardInterrupt  # Ctrl-C mid-run; an Exception would reject u6 only
                yield it

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _run(corpus, out, [Boom()])
    assert not (out / "manifest.jsonl").exists() and not (out / "run.json").exists()
    assert not is_complete(out)
    _run(corpus, out, [DropTagged()])  # a rerun into the same folder restarts cleanly
    assert is_complete(out) and len(list(read_manifest(out / "manifest.jsonl"))) == 6


def test_duplicate_input_ids_are_set_aside(tmp_path):
    path = write(tmp_path / "a.wav", speechlike(2.0))
    recs = [Record(id="a", audio=path, duration=3.0), Record(id="a", audio=path, duration=3.0)]
    write_manifest(tmp_path / "m.jsonl", recs)
    info = _run(tmp_path / "m.jsonl", tmp_path / "run", [DropTagged()])
    rejected = [json.loads(x) for x in (tmp_path / "run" / "rejected.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rejected] == [("a", "duplicate_id")]
    acc = info["accounting"]
    # the repeated row is an input row too: records in = kept + rejected, hours likewise
    assert acc["input_records"] == 2 and acc["records"] == {"kept": 1, "eval_only": 0,
                                                            "rejected": 1}
    assert acc["input_hours"] == pytest.approx(sum(acc["hours"].values()), abs=3e-6)


def test_refuses_to_overwrite_a_foreign_folder(corpus, tmp_path):
    from curate.engine.lifecycle import RunDirError
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(RunDirError):
        _run(corpus, out, [DropTagged()])
    assert (out / "notes.txt").read_text() == "keep me"


def test_blocks_fix_the_output_whatever_the_workers(corpus, tmp_path):
    """With blocks of ~5 s of input, 1 and 2 workers give the same bytes, and a stream stage
    never packs records of two blocks together."""
    stages = lambda: [DropTagged(), Pairs(), Gain()]  # noqa: E731
    info = _run(corpus, tmp_path / "a", stages(), workers=1, seed=1, shard_seconds=5.0)
    _run(corpus, tmp_path / "b", stages(), workers=2, seed=1, shard_seconds=5.0)
    for name in ("manifest.jsonl", "eval_only.jsonl", "rejected.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # u0-u1 (4.1 s) | u2-u3 | u4-u5 | u6-u7 | bad files: pairs form inside each block only
    merged = {r.id for r in read_manifest(tmp_path / "a" / "manifest.jsonl")} | \
        {r.id for r in read_manifest(tmp_path / "a" / "eval_only.jsonl")}
    # without blocks it would be u0+u1, u2+u4, u5+u6, u7 (u3 is rejected)
    assert merged == {"merge:u0+u1", "u2", "merge:u4+u5", "merge:u6+u7"}
    assert sum(info["accounting"]["records"].values()) == 12
