"""merge30 stage: packing consecutive records into <= 30 s windows, traceably."""
from pathlib import Path

import numpy as np
import pytest

import curate
from curate.stage import SR, Context, Item, ParamError
from manifests import Record, read_manifest
from manifests.audio import load
from plugins.joiner import join_texts
from plugins.merge30 import Merge30, merged_id

DEMO = Path(curate.__file__).parent / "demo" / "manifest.jsonl"


def demo_items(n: int | None = None, short_only: bool = True) -> list[Item]:
    items = []
    for rec in read_manifest(DEMO):
        if short_only and rec.duration > 30:
            continue
        audio = load(rec.audio, rec.offset, rec.duration)
        rec.duration = len(audio) / SR
        items.append(Item(rec, audio, sources=(rec.id,)))
        if n is not None and len(items) == n:
            break
    return items


def run(stage, items):
    return list(stage(iter(items), Context(seed=1)))


def tone(rec_id: str, seconds: float, **fields) -> Item:
    audio = (0.1 * np.sin(np.arange(int(seconds * SR)) * 0.05)).astype(np.float32)
    return Item(Record(id=rec_id, audio=f"/src/{rec_id}.flac", duration=seconds, **fields), audio,
                sources=(rec_id,))


def test_windows_hold_their_parts_audio_text_and_tags_in_source_order():
    items = demo_items(40)
    by_id = {it.record.id: it for it in items}
    source = {it.record.id: it.audio.copy() for it in items}
    out = run(Merge30(), items)

    merged = [it for it in out if "parts" in it.record.extra]
    assert merged, "forty short demo clips make at least one window"
    seen = []
    for win in out:
        rec = win.record
        assert win.duration <= 30.0 + 1e-9
        parts = rec.extra.get("parts")
        if not parts:  # passed through, untouched
            seen.append(rec.id)
            assert win is by_id[rec.id]
            continue
        ids = [p["id"] for p in parts]
        seen += ids
        assert rec.id == merged_id(ids) and win.changed
        assert rec.text == join_texts(by_id[i].record.text for i in ids)
        assert rec.hyp == join_texts(by_id[i].record.hyp for i in ids)
        assert set(rec.tags) == {t for i in ids for t in by_id[i].record.tags}
        assert len(win.audio) == int(round(rec.duration * SR))
        # Each part's samples sit exactly where `parts` says, with silence in the gaps.
        silence = np.ones(len(win.audio), dtype=bool)
        for p in parts:
            a, b = int(round(p["start"] * SR)), int(round(p["end"] * SR))
            np.testing.assert_array_equal(win.audio[a:b], source[p["id"]])
            silence[a:b] = False
        assert not win.audio[silence].any()
        gaps = [b["start"] - a["end"] for a, b in zip(parts, parts[1:])]
        assert gaps == pytest.approx([1.0] * len(gaps), abs=0.5 / SR)
        assert rec.lineage[-1]["stage"] == "merge30"
        assert [p["id"] for p in rec.lineage[-1]["parts"]] == ids
    assert seen == [it.record.id for it in items], "every record once, in source order"


def test_labelled_and_unlabelled_are_never_mixed():
    items = [tone("a", 3, text="打开空调"), tone("b", 3, text="关窗"), tone("c", 3),
             tone("d", 3), tone("e", 3, text="导航回家")]
    out = run(Merge30(), items)
    assert [it.record.id for it in out] == ["merge:a+b", "merge:c+d", "e"]
    assert [it.record.text for it in out] == ["打开空调关窗", "", "导航回家"]


def test_group_by_keeps_windows_within_one_speaker():
    items = [tone("a", 3, text="一", speaker="s1"), tone("b", 3, text="二", speaker="s1"),
             tone("c", 3, text="三", speaker="s2"), tone("d", 3, text="四", speaker="s2"),
             tone("e", 3, text="五", speaker="s1")]
    assert [it.record.id for it in run(Merge30(), items)] == [merged_id(list("abcde"))]
    out = run(Merge30(group_by="speaker"), [tone(i.record.id, 3, text=i.record.text,
                                                 speaker=i.record.speaker) for i in items])
    assert [(it.record.id, it.record.speaker) for it in out] == [
        ("merge:a+b", "s1"), ("merge:c+d", "s2"), ("e", "s1")]


def test_group_by_a_users_own_field():
    items = [tone("a", 3, text="一", extra={"car": "x"}),
             tone("b", 3, text="二", extra={"car": "y"})]
    assert [it.record.id for it in run(Merge30(group_by="car"), items)] == ["a", "b"]


def test_eval_only_records_stay_out_of_training_windows():
    items = [tone("a", 3, text="一"), tone("b", 3, text="二", split="eval_only",
                                             tags=["sensitive:phone"]),
             tone("c", 3, text="三", split="eval_only"), tone("d", 3, text="四")]
    out = run(Merge30(), items)
    assert [(it.record.id, it.record.split) for it in out] == [
        ("a", "train"), ("merge:b+c", "eval_only"), ("d", "train")]
    assert out[1].record.tags == ["sensitive:phone"]


def test_windows_respect_max_and_long_records_pass_through():
    items = [tone("a", 14, text="一"), tone("b", 15, text="二"), tone("c", 14.5, text="三"),
             tone("d", 31, text="四"), tone("e", 2, text="五")]
    out = run(Merge30(), items)
    assert [it.record.id for it in out] == ["merge:a+b", "c", "d", "e"]
    assert out[0].duration == pytest.approx(30.0)


def test_speech_and_latin_text_are_joined_into_the_window():
    items = [tone("a", 2, text="play", hyp="play", speech=[[0.2, 1.8]]),
             tone("b", 2, text="next song", hyp="next son", speech=[[0.1, 1.5]])]
    [win] = run(Merge30(gap=0.5), items)
    assert (win.record.text, win.record.hyp) == ("play next song", "play next son")
    assert win.record.speech == [[0.2, 1.8], [2.6, 4.0]]
    [win] = run(Merge30(joiner="。"), [tone("a", 2, text="打开空调"), tone("b", 2, text="关窗")])
    assert win.record.text == "打开空调。关窗"


def test_a_missing_hyp_is_not_papered_over():
    [win] = run(Merge30(), [tone("a", 2, text="一", hyp="一"), tone("b", 2, text="二")])
    assert win.record.hyp is None


def test_holds_at_most_one_window_in_memory():
    pulled = []

    def stream():
        for i in range(200):
            pulled.append(i)
            yield tone(f"u{i}", 4, text="一")

    emitted, held = 0, []
    for win in Merge30()(stream(), Context()):
        emitted += len(win.record.extra["parts"])
        held.append(len(pulled) - emitted)
    # A 30 s window takes six 4 s clips with 1 s gaps; only the one that closed it is held over.
    assert emitted == 200 and max(held) == 1


def test_long_groups_get_bounded_unique_ids():
    ids = [f"utt{i}" for i in range(12)]
    a, b = merged_id(ids), merged_id(ids[:5] + ids[6:])
    assert a.startswith("merge:utt0+…+utt11~") and len(a) < 40
    assert a != b and merged_id(ids) == a
    assert merged_id(["x", "y"]) == "merge:x+y"


def test_bad_parameters_are_refused():
    with pytest.raises(ParamError, match="gap >= 0"):
        Merge30(gap=-1)
