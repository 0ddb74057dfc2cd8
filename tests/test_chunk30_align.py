"""chunk30 align=PATH: labelled recordings without sentence timestamps, cut by a forced aligner.

The cutting is checked on synthetic alignments (where the right cut is known); the plumbing
through `curate run` with a tiny random Qwen3-ASR forced aligner built here and loaded by the
real loading code (its weights are random: its timestamps say nothing of where a good cut lies,
and most fall in one bin, so it makes one window a record)."""
import json
import re
import unicodedata
from dataclasses import dataclass
from itertools import pairwise

import pytest

from curate.stage import SR, Context, Item
from manifests import Record, read_manifest, write_manifest
from plugins.chunk30 import Chunk30, cuts_from_alignment
from plugins.joiner import join_texts
from tests.audio_gen import speechlike, write
from tests.cli import fails, ok
from train_adapter.aligner import char_spans


@dataclass
class W:
    start: float
    end: float
    char_start: int
    char_end: int


def aligned(text: str, words: list[str], times: list[tuple[float, float]]) -> list[W]:
    return [W(s, e, a, b) for (s, e), (a, b) in zip(times, char_spans(text, words), strict=True)]


def split_words(text: str) -> list[str]:
    """The processor's default split (checked against it below): Han characters one by one, other
    words at spaces, anything but letters, digits and apostrophes dropped — so "up。Call" is one
    word, and no cut can fall inside it."""
    out, word = [], ""
    for ch in text + " ":
        if "\u4e00" <= ch <= "\u9fff" or ch.isspace():
            out += [word] if word else []
            word = ""
            out += [ch] if not ch.isspace() else []
        elif ch == "'" or unicodedata.category(ch)[0] in "LN":
            word += ch
    return out


def check_tiling(text, windows, limit):
    assert windows[0][2] == 0 and windows[-1][3] == len(text)
    for (s0, e0, _, b0), (s1, _, a1, _) in pairwise(windows):
        assert b0 == a1 and e0 <= s1 + 1e-9           # every character and sample in one window
    assert "".join(text[a:b] for _, _, a, b in windows) == text
    for s, e, _, _ in windows:
        assert e - s <= limit + 1e-9
        assert abs(s * SR - round(s * SR)) < 1e-6 and abs(e * SR - round(e * SR)) < 1e-6


def test_char_spans_tile_the_text_and_keep_punctuation_with_the_word_before():
    text = "“打开车窗，”好的。 Turn it up to 3.5, don't stop!"
    words = split_words(text)
    assert words == ["打", "开", "车", "窗", "好", "的", "Turn", "it", "up", "to", "35", "don't",
                     "stop"]
    spans = char_spans(text, words)
    pieces = [text[a:b] for a, b in spans]
    assert "".join(pieces) == text
    assert pieces[0] == "“打" and pieces[3] == "窗，”" and pieces[5] == "的。 "
    assert pieces[10] == "3.5, " and pieces[-1] == "stop!"


def test_windows_are_cut_at_sentence_ends():
    # Six sentences of four 1.5 s words, 0.2 s apart, 0.6 s between sentences: 57 s in all.
    sentences = [f"word{k}a word{k}b word{k}c word{k}d." for k in range(6)]
    text = " ".join(sentences)
    words = split_words(text)
    times, t = [], 0.3
    for k in range(len(words)):
        times.append((t, t + 1.5))
        t += 1.5 + (0.6 if k % 4 == 3 else 0.2)
    duration = t + 0.3
    windows = cuts_from_alignment(aligned(text, words, times), text, duration, 30.0, 1.0)
    check_tiling(text, windows, 30.0)
    assert len(windows) == 2
    assert all(text[a:b].strip().endswith(".") for _, _, a, b in windows)
    # fewest windows, the shorter one as long as it can be: 3 + 3 sentences
    assert [text[a:b].strip() for _, _, a, b in windows] == [
        " ".join(sentences[:3]), " ".join(sentences[3:])]
    # the cut lies midway into the pause between the sentences, on the sample grid
    pause = (times[11][1], times[12][0])
    assert windows[0][1] == windows[1][0] == pytest.approx(sum(pause) / 2, abs=1 / SR)
    assert windows[0][0] == 0 and windows[-1][1] == pytest.approx(duration)


def test_an_over_long_sentence_is_cut_at_its_longest_pause():
    # One Mandarin sentence of 60 characters, 0.6 s each, 0.05 s apart, with longer pauses after
    # characters 19 (0.4 s), 29 (1.0 s) and 44 (0.5 s): about 40 s, no punctuation inside.
    text = "".join("打开车窗导航到公司关闭空调"[k % 13] for k in range(60)) + "。"
    words = split_words(text)
    assert len(words) == 60
    pauses = {19: 0.4, 29: 1.0, 44: 0.5}
    times, t = [], 0.2
    for k in range(60):
        times.append((t, t + 0.6))
        t += 0.6 + pauses.get(k, 0.05)
    duration = times[-1][1] + 0.2
    windows = cuts_from_alignment(aligned(text, words, times), text, duration, 30.0, 1.0)
    check_tiling(text, windows, 30.0)
    assert len(windows) == 2
    assert windows[0][3] == 30  # after the 30th character, at the 1.0 s pause
    assert windows[0][1] == pytest.approx((times[29][1] + times[30][0]) / 2, abs=1 / SR)
    assert join_texts(text[a:b] for _, _, a, b in windows) == text


def test_silence_beyond_the_words_is_shortened_to_fit_the_limit():
    # 12 s of silence, then 25 s of words in one sentence, then 10 s of silence.
    text = " ".join(f"w{k}" for k in range(50)) + "."
    words = split_words(text)
    times = [(12.0 + 0.5 * k, 12.0 + 0.5 * k + 0.45) for k in range(50)]
    windows = cuts_from_alignment(aligned(text, words, times), text, 47.0, 30.0, 1.0)
    [(start, end, a, b)] = windows
    assert (a, b) == (0, len(text))
    assert start <= 12.0 and end >= times[-1][1] and end - start <= 30.0
    spare = 30.0 - (times[-1][1] - times[0][0])   # shared by both sides
    assert start == pytest.approx(12.0 - spare / 2, abs=1 / SR)
    assert end == pytest.approx(times[-1][1] + spare / 2, abs=2 / SR)


def test_one_word_longer_than_the_limit_is_a_window_of_its_own():
    text = "嗯。打开车窗。"
    words = split_words(text)
    times = [(0.1, 0.5), (1.0, 33.0), (33.1, 33.5), (33.6, 34.0), (34.1, 34.5)]
    windows = cuts_from_alignment(aligned(text, words, times), text, 35.0, 30.0, 1.0)
    assert "".join(text[a:b] for _, _, a, b in windows) == text
    assert any(e - s > 30.0 for s, e, _, _ in windows)   # chunk30 rejects it segment_too_long


# --- through the stage and `curate run`, with a tiny random aligner ---

TEXTS = {
    "long_en": "Turn on the air conditioning. Set it to twenty two degrees, please! "
               "Then navigate to the office and avoid the highway. Play the next song.",
    "long_zh": "打开车窗。导航到公司，避开高速。然后把空调调到二十二度，风量调小一点！播放下一首歌。",
    "long_mixed": "导航到Starbucks，然后打开 Bluetooth。Call mom and say I'm late. 好的，谢谢。",
}
SECONDS = {"long_en": 35.0, "long_zh": 48.0, "long_mixed": 58.0}


@pytest.fixture(scope="module")
def aligner_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    from train_adapter.aligner import build_tiny_aligner

    return build_tiny_aligner(tmp_path_factory.mktemp("aligner"), list(TEXTS.values()) * 4)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    recs = []
    for k, (rid, text) in enumerate(TEXTS.items()):
        audio = speechlike(SECONDS[rid] - 1.0, seed=k)
        recs.append(Record(id=rid, audio=write(folder / f"{rid}.wav", audio),
                           duration=len(audio) / SR, text=text))
    audio = speechlike(3.0, seed=7)
    recs.append(Record(id="short", audio=write(folder / "short.wav", audio),
                       duration=len(audio) / SR, text="好的"))
    path = folder / "in.jsonl"
    write_manifest(path, recs)
    return path, {r.id: r for r in recs}


def run(manifest_path, out, *sets, workers=1):
    # Shards of 36 s: each long record in its own, so with two workers both load the aligner.
    args = ["run", str(manifest_path), "--plugins", "chunk30", "--workers", str(workers),
            "--shard-hours", "0.01", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    ok(args)
    rows = {name: list(read_manifest(out / f"{name}.jsonl"))
            for name in ("manifest", "rejected")}
    return rows, json.loads((out / "run.json").read_text())["accounting"]


def test_the_word_split_here_is_the_processors(aligner_dir):
    from train_adapter.aligner import load_aligner

    processor = load_aligner(aligner_dir).processor
    for text in [*TEXTS.values(), "“打开车窗，”好的。 Turn it up to 3.5, don't stop!"]:
        assert processor.split_words_for_alignment(text) == split_words(text), text


def test_a_run_cuts_long_records_by_alignment(tmp_path, aligner_dir, manifest):
    path, recs = manifest
    rows, acc = run(path, tmp_path / "run", f"chunk30.align={aligner_dir}",
                    "chunk30.align_min_conf=0", workers=2)
    kept, rejected = rows["manifest"], rows["rejected"]
    assert "short" in {r.id for r in kept}
    for rid, rec in recs.items():
        if rid == "short":
            continue
        pieces = sorted((r for r in kept + rejected if r.id.startswith(rid + "#c")),
                        key=lambda r: int(r.id.split("#c")[1]))
        assert pieces, rid
        assert [r.id for r in pieces] == [f"{rid}#c{k}" for k in range(len(pieces))]
        # every character of the transcript in exactly one window, kept or rejected, in order
        assert re.sub(r"\s+", "", "".join(r.text for r in pieces)) == \
            re.sub(r"\s+", "", rec.text), rid
        for r in pieces:
            step = r.lineage[-1]
            assert step["stage"] == "chunk30" and step["cut_by"] == "alignment"
            assert step["parent"] == rid and 0 <= step["align_confidence"] <= 1
            assert r.hyp is None
        # the windows are consecutive slices of the source
        for a, b in pairwise(pieces):
            assert a.offset + a.duration <= b.offset + 1e-6
    for r in kept:
        assert r.duration <= 30.0 + 1e-6, (r.id, r.duration)
    records = acc["records"]
    assert acc["input_records"] == len(recs) == sum(records.values())
    assert acc["rows"]["manifest"] == len(kept) and acc["rows"]["rejected"] == len(rejected)


def test_an_unsure_alignment_is_rejected_not_guessed(tmp_path, aligner_dir, manifest):
    path, recs = manifest
    rows, acc = run(path, tmp_path / "run", f"chunk30.align={aligner_dir}",
                    "chunk30.align_min_conf=0.9")
    rejected = {r.id: r for r in rows["rejected"]}
    long_ids = {rid for rid in recs if rid != "short"}
    assert set(rejected) == long_ids   # whole records: a random model is sure of nothing
    for rid in long_ids:
        assert rejected[rid].extra["reason"] == "alignment_low_confidence"
        assert rejected[rid].extra["stage"] == "chunk30"
        error = rejected[rid].extra["error"]
        assert rid in error and "align_min_conf" in error
    assert [r.id for r in rows["manifest"]] == ["short"]
    assert acc["records"] == {"kept": 1, "eval_only": 0, "rejected": 3}
    assert acc["rejected_reasons"] == {"alignment_low_confidence": 3}


def test_too_long_and_wordless_records_are_set_aside(tmp_path):
    pytest.importorskip("transformers")
    from train_adapter.aligner import build_tiny_aligner

    folder = build_tiny_aligner(tmp_path / "a40", ["打开车窗。好的。"], max_seconds=40.0)
    stage = Chunk30(align=str(folder), align_min_conf=0)
    items = []
    for rid, seconds, text in (("over", 45.0, "打开车窗。好的。"), ("wordless", 35.0, "。。。")):
        audio = speechlike(seconds, seed=3)
        rec = Record(id=rid, audio=write(tmp_path / f"{rid}.wav", audio),
                     duration=len(audio) / SR, text=text)
        items.append(Item(rec, audio, sources=(rid,)))
    out = {it.record.id: it for it in stage(iter(items), Context(seed=0))}
    assert out["over"].rejected == "too_long_to_align"
    assert "40 s" in out["over"].record.extra["error"]
    assert out["wordless"].rejected == "nothing_to_align"


def test_an_align_path_that_is_no_folder_is_refused(tmp_path, manifest):
    path, _ = manifest
    base = ["run", str(path), "--plugins", "chunk30", "--out", str(tmp_path / "run")]
    fails([*base, "--set", f"chunk30.align={tmp_path / 'nowhere'}"], "does not exist")
    (tmp_path / "file.bin").write_bytes(b"x")
    fails([*base, "--set", f"chunk30.align={tmp_path / 'file.bin'}"], "is not a folder")
    assert not (tmp_path / "run" / "run.json").exists()


def test_the_stage_cuts_by_the_alignment_and_rejects_an_unsure_window(tmp_path, monkeypatch):
    # The aligner's output given (the tiny random one times nothing): two sentences, the second
    # aligned with low confidence; the stage must cut between them and reject only the second.
    pytest.importorskip("transformers")   # chunk30.align refuses to start without it
    from train_adapter import aligner as aligner_module
    from train_adapter.aligner import Alignment, Word

    text = "打开车窗，导航到公司。 Then play the next song, please."
    words = split_words(text)
    spans = char_spans(text, words)
    times, t = [], 0.5
    for k in range(len(words)):
        times.append((t, t + 2.0))
        t += 2.0 + (2.0 if k == 8 else 0.3)   # a 2 s pause after 司 (word 8)
    conf = [0.9 if k <= 8 else 0.2 for k in range(len(words))]
    duration = t + 0.5
    assert 30 < duration < 60
    alignment = Alignment(text, duration, [Word(w, s, e, a, b, c) for w, (s, e), (a, b), c
                                           in zip(words, times, spans, conf, strict=True)],
                          confidence=sum(conf) / len(conf), mean_prob=0.7, moved=0.0)

    class Given:
        max_seconds = 400.0

        def align(self, audio, text_):
            assert text_ == text and abs(len(audio) - duration * SR) <= 1
            return alignment

    folder = tmp_path / "aligner"
    folder.mkdir()
    monkeypatch.setattr(aligner_module, "load_aligner", lambda path: Given())
    audio = speechlike(duration - 1.0, seed=5)
    rec = Record(id="rec", audio=write(tmp_path / "rec.wav", audio), duration=len(audio) / SR,
                 text=text, hyp="whole recording hyp")
    out = list(Chunk30(align=str(folder), align_min_conf=0.5)(
        iter([Item(rec, audio, sources=("rec",))]), Context(seed=0)))
    assert [it.record.id for it in out] == ["rec#c0", "rec#c1"]
    first, second = out
    assert first.record.text == "打开车窗，导航到公司。"
    assert second.record.text == "Then play the next song, please."
    assert not first.rejected and second.rejected == "alignment_low_confidence"
    cut = (times[8][1] + times[9][0]) / 2
    assert first.record.offset == 0 and first.duration == pytest.approx(cut, abs=1 / SR)
    assert second.record.offset == pytest.approx(cut, abs=1 / SR)
    assert first.record.offset + first.duration == pytest.approx(second.record.offset)
    for it in out:
        step = it.record.lineage[-1]
        assert step["cut_by"] == "alignment" and step["align"] == str(folder)
        assert step["align_confidence"] == round(alignment.confidence, 3)
        assert it.record.hyp is None
    assert first.record.lineage[-1]["window_confidence"] == 0.9
