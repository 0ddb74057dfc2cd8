"""noise stage: speech SNR as drawn, seeded draws in the lineage, clipping protection, folders."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import curate
from curate.checks.speech_level import FRAME, HANGOVER_FRAMES, intervals_mask, mean_power
from curate.stage import SR, Context, Item, ParamError
from manifests import Record, read_manifest
from manifests.audio import load
from plugins.noise import Noise, loop, mix, noise_segment
from plugins.merge30 import Merge30
from plugins.vad import Vad

DEMO = Path(curate.__file__).parent / "demo"


def half_silent(rec: Record) -> Item:
    """A demo clip with 2 s of silence either side: the case whole-clip SNR gets wrong."""
    speech = load(rec.audio, rec.offset, rec.duration)
    pad = np.zeros(2 * SR, np.float32)
    audio = np.concatenate([pad, speech, pad])
    rec.duration = len(audio) / SR
    return Item(rec, audio, sources=(rec.id,))


def demo_records(n: int) -> list[Record]:
    planted = {i for ids in json.loads((DEMO / "planted.json").read_text()).values() for i in ids}
    return [r for r in read_manifest(DEMO / "manifest.jsonl") if r.id not in planted][:n]


def snr_db(clean: np.ndarray, noisy: np.ndarray, mask: np.ndarray) -> float:
    return 10 * np.log10(mean_power(clean, mask) / mean_power(noisy - clean, mask))


def run(stage, items, seed=7):
    return list(stage(iter(items), Context(seed=seed)))


def test_speech_snr_is_the_drawn_snr_where_whole_clip_snr_is_not():
    vad, noise = Vad(), Noise(snr="0:20")
    for rec in demo_records(8):
        item = half_silent(rec)
        item.record.speech = vad.detect(item.audio)  # what vad found, before trimming
        reference = item.audio.copy()
        [noisy] = run(noise, [item])
        drawn = noisy.record.lineage[-1]["snr_db"]
        scale = noisy.record.lineage[-1]["peak_scale"]
        mask = intervals_mask(len(reference), noisy.record.speech)
        # The mixture may have been scaled down as a whole; undo that to compare like with like.
        measured = snr_db(reference, noisy.audio / np.float32(scale), mask)
        assert measured == pytest.approx(drawn, abs=0.5)
        # Over the whole clip (what common tools use) the same mixture reads well below the SNR.
        whole = snr_db(reference, noisy.audio / np.float32(scale), np.ones(len(reference), bool))
        assert whole < drawn - 2.0
        assert f"noise:snr={drawn:.1f}" in noisy.record.tags and noisy.changed


def test_merged_windows_after_vad_get_the_drawn_speech_snr():
    items = []
    for rec in demo_records(12):
        audio = load(rec.audio, rec.offset, rec.duration)
        rec.duration = len(audio) / SR
        items += run(Vad(), [Item(rec, audio, sources=(rec.id,))])
    windows = [w for w in run(Merge30(), items) if "parts" in w.record.extra]
    assert windows
    for win in windows:
        reference = win.audio.copy()
        [noisy] = run(Noise(), [win])
        entry = noisy.record.lineage[-1]
        mask = intervals_mask(len(reference), win.record.speech)
        measured = snr_db(reference, noisy.audio / np.float32(entry["peak_scale"]), mask)
        assert measured == pytest.approx(entry["snr_db"], abs=0.5)


def test_without_vad_the_energy_gate_finds_the_speech():
    # Measure over the speech webrtcvad finds in each clip; mix without telling noise where it is.
    vad, errors, whole_errors = Vad(), [], []
    noise_file = Noise().files[0][0]
    for rec in demo_records(24):
        item = half_silent(rec)
        speech = vad.detect(item.audio[2 * SR:-2 * SR])
        # the gate holds speech HANGOVER_FRAMES after it ends (P.56); vad's intervals do not
        hold = HANGOVER_FRAMES * FRAME / SR
        mask = intervals_mask(len(item.audio), [[s + 2, e + 2 + hold] for s, e in speech])
        noise = noise_segment(noise_file, 0.5, len(item.audio))
        mixed, _, scale = mix(item.audio, noise, 10.0, speech=None)
        errors.append(snr_db(item.audio, mixed / np.float32(scale), mask) - 10.0)
        whole = np.ones(len(item.audio), bool)
        naive_gain = np.sqrt(mean_power(item.audio, whole) / mean_power(noise, whole) / 10)
        whole_errors.append(snr_db(item.audio, item.audio + naive_gain * noise, mask) - 10.0)
    errors = np.abs(errors)
    assert np.median(errors) < 0.3 and np.percentile(errors, 90) < 0.5 and errors.max() < 1.0
    # The whole-clip measure on the same clips: the noise comes out several dB too weak.
    assert np.median(whole_errors) > 3.0


def test_draws_are_seeded_per_record_and_recorded():
    noise = Noise()
    item = half_silent(demo_records(1)[0])
    rid, seconds = item.record.id, item.duration
    a = noise.draw(rid, seconds, Context(seed=7))
    assert a == noise.draw(rid, seconds, Context(seed=7))
    assert a != noise.draw(rid, seconds, Context(seed=8))
    assert a != noise.draw(rid + "x", seconds, Context(seed=7))
    [noisy] = run(noise, [item])
    entry = noisy.record.lineage[-1]
    assert entry["stage"] == "noise" and entry["seed"] == 7
    assert (entry["offset"], entry["snr_db"]) == (a["offset"], a["snr_db"])
    assert entry["file"] == Path(a["file"]).name and entry["file"].startswith("car_")
    assert 5.0 <= entry["snr_db"] <= 20.0
    assert noisy.record.id == rid


def test_keep_clean_yields_both_and_p_zero_yields_clean_only():
    rec = demo_records(1)[0]
    item = half_silent(rec)
    clean_audio = item.audio.copy()
    clean, noisy = run(Noise(keep_clean=True), [item])
    assert clean is item and not clean.changed and clean.record.id == rec.id
    np.testing.assert_array_equal(clean.audio, clean_audio)
    assert noisy.record.id == f"{rec.id}#noise" and noisy.changed
    assert noisy.record.lineage[-1]["stage"] == "noise" and not clean.record.lineage
    assert not np.array_equal(noisy.audio, clean_audio)

    [untouched] = run(Noise(p=0), [half_silent(demo_records(1)[0])])
    assert not untouched.changed and not untouched.record.tags


def test_p_is_the_share_of_records_that_get_noise():
    noise, ctx = Noise(p=0.5), Context(seed=3)
    hits = sum(noise.draw(f"utt{i}", 3.0, ctx) is not None for i in range(2000))
    assert 900 < hits < 1100


def test_loud_mixtures_are_scaled_down_not_clipped():
    rec = demo_records(1)[0]
    item = half_silent(rec)
    item.audio *= np.float32(0.98 / np.max(np.abs(item.audio)))
    reference = item.audio.copy()
    [noisy] = run(Noise(snr="0:0"), [item])
    entry = noisy.record.lineage[-1]
    assert np.max(np.abs(noisy.audio)) <= 0.99 + 1e-6
    assert entry["peak_scale"] < 1.0
    mask = intervals_mask(len(reference), Vad().detect(reference))
    assert snr_db(reference, noisy.audio / np.float32(entry["peak_scale"]), mask) == \
        pytest.approx(0.0, abs=0.5)


def test_short_noise_files_loop_without_gaps_or_jumps():
    noise = load(str(DEMO / "noise" / "car_1.flac"))
    looped = loop(noise, start=len(noise) - SR, n=30 * SR)
    assert len(looped) == 30 * SR
    level = 10 * np.log10(np.mean(noise.astype(float) ** 2))
    per_second = 10 * np.log10((looped.astype(float).reshape(30, SR) ** 2).mean(axis=1))
    assert np.all(np.abs(per_second - level) < 2.0)


def test_a_noise_segment_is_the_files_loop_from_its_offset_whatever_its_length():
    """A segment of a cached file is cut from the file's loop, built once: its samples do not
    depend on how many follow, and where the offset leaves a whole crossfade before the file's
    end it is loop() from that offset."""
    path = str(DEMO / "noise" / "car_1.flac")
    noise = load(path)
    n = len(noise)
    for start in (0, SR, n - SR, n - 100):
        long = noise_segment(path, start / SR, 3 * n)
        if start <= n - SR:
            assert np.array_equal(long, loop(noise, start, 3 * n))
        for short in (SR, n - start, n - start + 400, 2 * n):
            assert np.array_equal(noise_segment(path, start / SR, short), long[:short])


def test_a_users_noise_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    hum = 0.05 * np.sin(np.arange(40 * SR) * 2 * np.pi * 100 / SR).astype(np.float32)
    sf.write(tmp_path / "sub" / "hum.wav", hum, SR)
    noise = Noise(dir=str(tmp_path))
    [noisy] = run(noise, [half_silent(demo_records(1)[0])])
    assert noisy.record.lineage[-1]["file"] == "sub/hum.wav"
    assert noisy.record.lineage[-1]["dir"] == str(tmp_path)


def test_missing_or_empty_noise_folders_are_refused(tmp_path):
    with pytest.raises(ParamError, match="is not a folder"):
        Noise(dir=str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(ParamError, match="no audio files"):
        Noise(dir=str(tmp_path))
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(ParamError, match="broken.wav"):
        Noise(dir=str(tmp_path))
    with pytest.raises(ParamError, match="between 0 and 1"):
        Noise(p=1.5)
