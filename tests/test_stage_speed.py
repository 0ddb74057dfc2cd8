"""speed stage: duration d/f with pitch ×f, every timestamp moved with the audio, text kept,
merged windows' parts where their audio is, chunk30 after it, seeded draws, same bytes for any
--workers."""
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import curate
from curate.cli import app
from curate.stage import SR, Context, Item, ParamError
from manifests import Record, read_manifest, write_manifest
from manifests.audio import load
from plugins.chunk30 import Chunk30
from plugins.merge30 import Merge30
from plugins.speed import Speed
from tests.audio_gen import speechlike

DEMO = Path(curate.__file__).parent / "demo"


def demo_items(n: int) -> list[Item]:
    planted = {i for ids in json.loads((DEMO / "planted.json").read_text()).values() for i in ids}
    items = []
    for rec in [r for r in read_manifest(DEMO / "manifest.jsonl") if r.id not in planted][:n]:
        audio = load(rec.audio, rec.offset, rec.duration)
        rec.duration = len(audio) / SR
        items.append(Item(rec, audio, sources=(rec.id,)))
    return items


def run(stage, items, seed=7):
    return list(stage(iter(items), Context(seed=seed)))


def tone_item(seconds: float, hz: float, rid: str = "tone") -> Item:
    t = np.arange(int(seconds * SR)) / SR
    audio = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return Item(Record(id=rid, audio="tone.wav", duration=len(audio) / SR), audio)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_duration_becomes_d_over_f_and_pitch_moves_by_f(factor):
    item = tone_item(2.0, 200.0)
    n = len(item.audio)
    [out] = run(Speed(factors=str(factor)), [item])
    # soxr gives round(n / f) samples (a rate ratio, not a time stretch: Kaldi's direction)
    assert abs(len(out.audio) - n / factor) <= 1
    assert out.duration == len(out.audio) / SR and out.changed
    spectrum = np.abs(np.fft.rfft(out.audio * np.hanning(len(out.audio))))
    peak = np.fft.rfftfreq(len(out.audio), 1 / SR)[np.argmax(spectrum)]
    # the peak bin is the nearest of bins SR/len apart: within half a bin of 200·f
    assert abs(peak - 200.0 * factor) <= SR / len(out.audio) / 2 + 1e-9


def test_timestamps_follow_the_audio_and_the_text_is_kept():
    # A burst at 1.0-1.5 s, labelled as a sentence there: after speed it must still be there.
    audio = np.zeros(3 * SR, np.float32)
    burst = speechlike(0.5, seed=1, lead=0, tail=0)
    audio[SR:SR + len(burst)] = burst
    rec = Record(id="b", audio="b.wav", duration=3.0, text="打开车窗", hyp="打开车窗",
                 segments=[{"start": 1.0, "end": 1.5, "text": "打开车窗"}], speech=[[1.0, 1.5]])
    for factor in (0.9, 1.1):
        item = Item(Record.from_dict(rec.to_dict()), audio.copy())
        [out] = run(Speed(factors=str(factor)), [item])
        start, end = 1.0 / factor, 1.5 / factor
        assert out.record.segments == [{"start": round(start, 3), "end": round(end, 3),
                                        "text": "打开车窗"}]
        assert out.record.speech == [[round(start, 3), round(end, 3)]]
        assert out.record.text == "打开车窗" and out.record.hyp == "打开车窗"
        energy = out.audio.astype(np.float64) ** 2
        # soxr's filter rings a few ms either side of the burst; 10 ms margins hold all of it
        inside = energy[int((start - 0.01) * SR):int((end + 0.01) * SR)].sum()
        assert inside >= 0.999 * energy.sum()
        entry = out.record.lineage[-1]
        assert entry["stage"] == "speed" and entry["factor"] == factor and entry["seed"] == 7
        assert f"speed:factor={factor:g}" in out.record.tags


def _lag(a: np.ndarray, b: np.ndarray) -> int:
    n = len(a) + len(b)
    c = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)
    k = int(np.argmax(c))
    return k if k < n // 2 else k - n


def test_a_merged_windows_parts_sit_at_their_offsets_after_speed():
    import soxr

    items = demo_items(6)
    originals = {it.record.id: it.audio.copy() for it in items}
    [window] = [w for w in run(Merge30(), items) if "parts" in w.record.extra][:1]
    before = [dict(p) for p in window.record.extra["parts"]]
    [fast] = run(Speed(factors="1.1"), [window])
    parts = fast.record.extra["parts"]
    assert [p["id"] for p in parts] == [p["id"] for p in before]
    for p, old in zip(parts, before):
        # the audio is a whole number of samples: the last end is clamped to it, < 1 sample off
        assert p["start"] == pytest.approx(old["start"] / 1.1, abs=1 / SR)
        assert p["end"] == pytest.approx(old["end"] / 1.1, abs=1 / SR)
        a, b = int(round(p["start"] * SR)), int(round(p["end"] * SR))
        expected = soxr.resample(originals[p["id"]], SR * 1.1, SR, quality="HQ")
        # Start times fall between samples: the part sits within a sample of its offset.
        assert abs(_lag(expected, fast.audio[a:b])) <= 1
    for left, right in zip(parts, parts[1:]):
        # the merge gap is still silent where the new times say it is (bar 10 ms of ringing)
        gap = fast.audio[int((left["end"] + 0.01) * SR):int((right["start"] - 0.01) * SR)]
        assert gap.size and float(np.max(np.abs(gap))) < 1e-3


def test_a_clip_pushed_over_30_s_is_cut_by_chunk30_not_truncated():
    audio = np.concatenate([speechlike(3.5, seed=k, lead=0.25, tail=0.25) for k in range(7)])
    segments = [{"start": 4.0 * k + 0.25, "end": 4.0 * k + 3.75, "text": f"第{k}句"}
                for k in range(7)]
    rec = Record(id="long", audio="long.wav", duration=len(audio) / SR,
                 text="".join(s["text"] for s in segments), segments=segments)
    [slow] = run(Speed(factors="0.9"), [Item(rec, audio)])
    assert slow.duration == pytest.approx(28.0 / 0.9, abs=1 / SR) and slow.duration > 30
    windows = run(Chunk30(), [slow])
    assert len(windows) == 2 and not any(w.rejected for w in windows)
    assert "".join(w.record.text for w in windows) == rec.text
    last = windows[-1]
    assert last.record.segments[-1]["end"] == pytest.approx(
        segments[-1]["end"] / 0.9 - (last.record.offset - slow.record.offset), abs=2e-3)


def test_draws_are_seeded_recorded_and_p_and_keep_clean_work():
    speed = Speed()
    draws = [speed.draw(f"utt{i}", Context(seed=3)) for i in range(3000)]
    assert draws == [speed.draw(f"utt{i}", Context(seed=3)) for i in range(3000)]
    assert draws != [speed.draw(f"utt{i}", Context(seed=4)) for i in range(3000)]
    counts = {f: draws.count(f) for f in (0.9, 1.0, 1.1)}
    # binomial(3000, 1/3): sd 26; 1000 ± 150 is a 5.8 sd band
    assert sum(counts.values()) == 3000 and all(850 < c < 1150 for c in counts.values())
    ranged = Speed(factors="0.95:1.05")
    values = {ranged.draw(f"utt{i}", Context()) for i in range(500)}
    assert values <= {round(0.95 + 0.01 * k, 2) for k in range(11)} and len(values) > 5

    item = tone_item(1.0, 300.0, "t")
    clean = item.audio.copy()
    orig, copy = run(Speed(factors="1.1", keep_clean=True), [item])
    assert orig.record.id == "t" and not orig.changed and np.array_equal(orig.audio, clean)
    assert copy.record.id == "t#speed" and copy.changed and not orig.record.lineage
    [same] = run(Speed(factors="1.0"), [tone_item(1.0, 300.0)])
    assert not same.changed and same.record.lineage[-1]["factor"] == 1.0
    [skipped] = run(Speed(p=0), [tone_item(1.0, 300.0)])
    assert not skipped.changed and not skipped.record.lineage


@pytest.mark.parametrize("bad", ["abc", "0.9:x", "1.2:0.8", "0.1", "3"])
def test_bad_factors_are_refused(bad):
    with pytest.raises(ParamError, match="speed.factors"):
        Speed(factors=bad)


def same_bytes_for_any_workers(tmp_path, plugins: str, n: int = 16, seed: int = 5) -> list:
    """Run the first ``n`` demo records through ``plugins`` with 1, 2 and again 2 workers; assert
    the three run directories hold the same bytes; return the kept records."""
    subset = tmp_path / "in.jsonl"
    write_manifest(subset, list(read_manifest(DEMO / "manifest.jsonl"))[:n])
    outs = [tmp_path / name for name in ("w1", "w2", "w2again")]
    for out, workers in zip(outs, (1, 2, 2)):
        res = CliRunner().invoke(app, ["run", str(subset), "--plugins", plugins, "--out", str(out),
                                       "--workers", str(workers), "--seed", str(seed)])
        assert res.exit_code == 0, res.output
    for name in ("manifest.jsonl", "eval_only.jsonl", "rejected.jsonl"):
        assert len({(out / name).read_bytes() for out in outs}) == 1, name
    audio = sorted(p.name for p in (outs[0] / "audio").iterdir())
    assert audio
    for f in audio:
        assert len({(out / "audio" / f).read_bytes() for out in outs}) == 1, f
    return list(read_manifest(outs[0] / "manifest.jsonl"))


def test_curate_run_gives_the_same_bytes_for_any_workers(tmp_path):
    kept = same_bytes_for_any_workers(tmp_path, "vad,speed,merge30")
    factors = [e["factor"] for r in kept for e in r.lineage if e["stage"] == "speed"]
    factors += [e["factor"] for r in kept for e in r.lineage if e["stage"] == "merge30"
                for p in e["parts"] for e in p["lineage"] if e["stage"] == "speed"]
    assert set(factors) <= {0.9, 1.0, 1.1} and len(set(factors)) > 1


def test_curate_plugins_lists_the_augmentation_stages():
    res = CliRunner().invoke(app, ["plugins"])
    assert res.exit_code == 0, res.output
    for name, param in [("speed", "speed.factors"), ("gain", "gain.db"),
                        ("codec", "codec.codecs"), ("reverb", "reverb.drr")]:
        assert f"plugins.{name}:" in res.output and param in res.output
