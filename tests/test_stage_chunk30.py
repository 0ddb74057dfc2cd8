"""chunk30 stage: windows <= 30 s at sentence boundaries or pauses; transcripts never copied."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import curate
from curate.cli import app
from curate.stage import SR, Context, Item, ParamError
from manifests import Record, read_manifest, write_manifest
from manifests.audio import load
from plugins.chunk30 import Chunk30, pack_segments
from plugins.joiner import join_texts
from plugins.vad import Vad
from tests.audio_gen import speechlike, write

DEMO = Path(curate.__file__).parent / "demo" / "manifest.jsonl"


def decoded(rec: Record) -> Item:
    audio = load(rec.audio, rec.offset, rec.duration)
    rec.duration = len(audio) / SR
    return Item(rec, audio, sources=(rec.id,))


def demo(record_id: str) -> Record:
    return next(r for r in read_manifest(DEMO) if r.id == record_id)


def run(stage, *items):
    return list(stage(iter(items), Context(seed=1)))


@pytest.mark.parametrize("record_id", ["conv_001", "conv_002", "conv_003"])
def test_labelled_long_recording_is_cut_at_sentence_boundaries(record_id):
    parent = decoded(demo(record_id))
    assert parent.duration > 30
    out = run(Chunk30(), parent)

    assert [it.record.id for it in out] == [f"{record_id}#c{k}" for k in range(len(out))]
    assert len(out) >= 2 and not any(it.rejected for it in out)
    assert all(1.0 <= it.duration <= 30.0 for it in out)
    # Every sentence lands in exactly one window: no transcript is copied or dropped.
    texts = [it.record.text for it in out]
    segment_texts = [s["text"] for s in parent.record.segments]
    assert sorted(t for it in out for t in (s["text"] for s in it.record.segments)) == \
        sorted(segment_texts)
    assert join_texts(texts) == join_texts(segment_texts) == parent.record.text
    for it in out:
        assert it.record.text == join_texts(s["text"] for s in it.record.segments)
        assert it.record.hyp is None  # the whole-recording hyp cannot be split honestly
        assert it.changed is False
        # Each window is a slice of the source: reading it back gives the same samples.
        np.testing.assert_array_equal(
            load(it.record.audio, it.record.offset, it.duration), it.audio)
        assert all(0 <= s["start"] < s["end"] <= it.duration + 1e-3 for s in it.record.segments)
        assert it.record.lineage[-1]["stage"] == "chunk30"
        assert it.record.lineage[-1]["parent"] == record_id


def test_labelled_long_recording_without_timestamps_is_rejected_whole():
    parent = decoded(demo("conv_004"))
    assert parent.duration > 30 and parent.record.labelled and not parent.record.segments
    [out] = run(Chunk30(), parent)
    assert out.record.id == "conv_004"
    assert (out.rejected, out.rejected_by) == ("long_without_timestamps", "chunk30")


def test_unlabelled_recording_is_cut_in_speech_pauses():
    rec = demo("conv_004")
    rec.text, rec.hyp = "", None
    [trimmed] = run(Vad(), decoded(rec))
    out = run(Chunk30(), trimmed)
    assert len(out) >= 2 and not any(it.rejected for it in out)
    assert all(1.0 <= it.duration <= 30.0 for it in out)
    speech = trimmed.record.speech
    for left in out[:-1]:
        cut = left.record.offset + left.duration - trimmed.record.offset
        assert not any(s + 0.01 < cut < e - 0.01 for s, e in speech), f"cut {cut} inside speech"
    # The pieces tile the recording.
    assert out[0].record.offset == pytest.approx(trimmed.record.offset)
    assert sum(it.duration for it in out) == pytest.approx(trimmed.duration, abs=1e-3)


def test_without_vad_an_unlabelled_recording_is_cut_at_its_quietest_moment(tmp_path):
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, 70 * SR).astype(np.float32)
    audio[int(22.0 * SR):int(22.3 * SR)] *= 0.01  # the one quiet moment in the second half
    path = tmp_path / "hum.flac"
    sf.write(path, audio, SR, subtype="PCM_16")
    item = decoded(Record(id="hum", audio=str(path), duration=70.0))
    out = run(Chunk30(), item)
    assert not any(it.rejected for it in out)
    assert 22.0 < out[0].duration < 22.3  # inside the quiet moment
    assert all(it.duration <= 30.0 for it in out)
    assert sum(it.duration for it in out) == pytest.approx(70.0, abs=1e-3)


def test_a_sentence_longer_than_max_is_rejected_alone(tmp_path):
    audio = np.random.default_rng(1).normal(0, 0.1, 46 * SR).astype(np.float32)
    path = tmp_path / "long.flac"
    sf.write(path, audio, SR, subtype="PCM_16")
    segments = [{"start": 0.5, "end": 5.0, "text": "第一句"},
                {"start": 6.0, "end": 40.0, "text": "很长的第二句"},
                {"start": 41.0, "end": 45.0, "text": "第三句"}]
    rec = Record(id="long", audio=str(path), duration=46.0, text="第一句很长的第二句第三句",
                 segments=segments)
    out = run(Chunk30(), decoded(rec))
    assert [(it.record.id, it.rejected, it.record.text) for it in out] == [
        ("long#c0", None, "第一句"), ("long#c1", "segment_too_long", "很长的第二句"),
        ("long#c2", None, "第三句")]


@pytest.mark.parametrize("segments, reason", [
    ([{"start": 0.5, "end": 20.0}, {"start": 21.0, "end": 40.0}], "segments_without_text"),
    ([{"start": 0.5, "end": 20.0, "text": "一"}, {"start": 21.0, "end": 52.0, "text": "二"}],
     "bad_segments"),
    # overlapping, nested, and overlapping only once sorted: a window's audio would not match
    # its text, and some speech would be in no window
    ([{"start": 0.5, "end": 20.0, "text": "一"}, {"start": 15.0, "end": 40.0, "text": "二"}],
     "bad_segments"),
    ([{"start": 0.5, "end": 40.0, "text": "一"}, {"start": 5.0, "end": 10.0, "text": "二"}],
     "bad_segments"),
    ([{"start": 21.0, "end": 40.0, "text": "二"}, {"start": 0.5, "end": 21.5, "text": "一"}],
     "bad_segments"),
])
def test_unusable_timestamps_reject_the_record(tmp_path, segments, reason):
    audio = np.random.default_rng(2).normal(0, 0.1, 46 * SR).astype(np.float32)
    path = tmp_path / "long.flac"
    sf.write(path, audio, SR, subtype="PCM_16")
    rec = Record(id="long", audio=str(path), duration=46.0, text="一二", segments=segments)
    [out] = run(Chunk30(), decoded(rec))
    assert (out.record.id, out.rejected) == ("long", reason)


def test_short_records_pass_through_untouched():
    item = decoded(demo("nav_001"))
    [out] = run(Chunk30(), item)
    assert out is item and out.record.id == "nav_001" and not out.record.lineage


def test_packing_uses_fewest_windows_and_avoids_slivers():
    # Twelve 2.5 s sentences, 0.5 s apart (35.5 s): greedy packing gives 29.5 s + 5.5 s.
    spans = [(3.0 * i, 3.0 * i + 2.5) for i in range(12)]
    groups = pack_segments(spans, 30.0)
    assert groups == [(0, 5), (6, 11)]
    assert pack_segments([(0, 10), (11, 45), (46, 50)], 30.0) == [(0, 0), (1, 1), (2, 2)]


def test_min_must_leave_room_for_a_cut():
    with pytest.raises(ParamError, match="at most half of max"):
        Chunk30(max=10, min=6)


def test_a_run_sets_aside_records_with_overlapping_timestamps_and_keeps_the_rest(tmp_path):
    sentences = {
        "overlap": [(0.5, 20.0, "打开车窗"), (15.0, 40.0, "导航到公司"), (41.0, 45.0, "关闭空调")],
        "nested": [(0.5, 40.0, "打开车窗"), (5.0, 10.0, "导航到公司"), (41.0, 45.0, "关闭空调")],
        "good": [(0.5, 20.0, "打开车窗"), (21.0, 40.0, "导航到公司"), (41.0, 45.0, "关闭空调")],
    }
    recs = []
    for k, (rid, segs) in enumerate(sentences.items()):
        audio = speechlike(45.0, seed=k)
        recs.append(Record(id=rid, audio=write(tmp_path / f"{rid}.wav", audio),
                           duration=len(audio) / SR, text="".join(t for _, _, t in segs),
                           segments=[{"start": a, "end": b, "text": t} for a, b, t in segs]))
    audio = speechlike(2.0, seed=9)
    recs.append(Record(id="short", audio=write(tmp_path / "short.wav", audio),
                       duration=len(audio) / SR, text="好的"))
    write_manifest(tmp_path / "in.jsonl", recs)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in.jsonl"), "--plugins", "chunk30",
                                      "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output

    rejected = {r.id: (r.extra["reason"], r.extra["stage"])
                for r in read_manifest(out / "rejected.jsonl")}
    assert rejected == {"overlap": ("bad_segments", "chunk30"),
                        "nested": ("bad_segments", "chunk30")}
    kept = list(read_manifest(out / "manifest.jsonl"))
    assert [r.id for r in kept] == ["good#c0", "good#c1", "short"]
    assert join_texts(r.text for r in kept[:2]) == recs[2].text
    acc = json.loads((out / "run.json").read_text())["accounting"]
    assert acc["records"] == {"kept": 2, "eval_only": 0, "rejected": 2}
    assert acc["rejected_reasons"] == {"bad_segments": 2}
    seconds = {r.id: r.duration for r in recs}
    assert acc["hours"]["rejected"] == pytest.approx(
        (seconds["overlap"] + seconds["nested"]) / 3600, abs=1e-6)  # rounded to 6 places
    assert acc["input_hours"] == pytest.approx(sum(seconds.values()) / 3600, abs=1e-6)
