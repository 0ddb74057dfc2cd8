"""reverb stage: an impulse comes out as the response used, with the drawn DRR and no onset
delay; speech keeps its place and level; users' folders; seeded draws; same bytes for any
--workers."""
import numpy as np
import pytest
import soundfile as sf

from curate.checks.speech_level import intervals_mask, mean_power
from curate.stage import SR, Context, Item, ParamError
from manifests import Record
from plugins.reverb import Reverb, bundled_rir_dir
from plugins.vad import Vad
from tests.test_stage_speed import _lag, demo_items, run, same_bytes_for_any_workers

DIRECT = 16  # 1 ms at 16 kHz: the direct sound's window either side of the peak


def measured_drr(h: np.ndarray) -> float:
    h = h.astype(np.float64)
    peak = int(np.argmax(np.abs(h)))
    direct = np.sum(h[max(0, peak - DIRECT):peak + DIRECT + 1] ** 2)
    return 10 * np.log10(direct / (np.sum(h ** 2) - direct))


def ids_covering(stage: Reverb) -> dict[str, str]:
    """A record id that draws each response in the folder."""
    out = {}
    for i in range(1000):
        name, _ = stage.draw(f"r{i}", Context(seed=7))
        out.setdefault(name, f"r{i}")
    assert set(out) == set(stage.rirs)
    return out


def impulse(rid: str, at: float = 0.5, seconds: float = 1.5) -> Item:
    audio = np.zeros(int(seconds * SR), np.float32)
    audio[int(at * SR)] = 0.5
    return Item(Record(id=rid, audio="i.wav", duration=seconds), audio)


def test_an_impulse_comes_out_as_the_response_with_the_drawn_drr_and_no_delay():
    stage = Reverb(drr="-6:12")
    assert len(stage.rirs) == 10 and all(len(h) <= 0.31 * SR for h in stage.rirs.values())
    for name, rid in ids_covering(stage).items():
        [out] = run(stage, [impulse(rid)])
        entry = out.record.lineage[-1]
        assert entry["file"] == name and -6.0 <= entry["drr_db"] <= 12.0
        at = int(0.5 * SR)
        # the direct sound stays where the impulse was; nothing arrives before it
        assert int(np.argmax(np.abs(out.audio))) == at
        assert np.max(np.abs(out.audio[:at - DIRECT])) < 1e-6 * np.max(np.abs(out.audio))
        # the whole response (<= 0.3 s) lies inside the clip: its DRR is exact but for float32
        # rounding (1e-7 relative), far inside 0.01 dB
        assert measured_drr(out.audio) == pytest.approx(entry["drr_db"], abs=0.01)
        assert f"reverb:drr={entry['drr_db']:.1f}" in out.record.tags


def test_output_correlates_with_input_at_lag_0_even_for_responses_with_a_leading_delay(tmp_path):
    bundled = Reverb(drr="-6:-6")  # the lowest default DRR: the direct sound matters least
    # The same responses after 20 ms of silence: an onset delay the stage must take out.
    for name, h in bundled.rirs.items():
        sf.write(tmp_path / f"{name}.wav", np.concatenate([np.zeros(int(0.02 * SR)), h]), SR,
                 subtype="FLOAT")
    delayed = Reverb(dir=str(tmp_path), drr="-6:-6")
    noise = (0.1 * np.random.default_rng(1).standard_normal(4 * SR)).astype(np.float32)
    for stage in (bundled, delayed):
        for rid in ids_covering(stage).values():
            [out] = run(stage, [Item(Record(id=rid, audio="n.wav", duration=4.0), noise.copy())])
            # white noise: the cross-correlation is the response itself, whose direct tap is the
            # largest (the next is at most 0.85 of it at -6 dB), estimated to ~0.3 %
            assert _lag(noise, out.audio) == 0 and len(out.audio) == len(noise)
    # (Voiced speech is no probe for this: its autocorrelation is nearly as high a pitch period
    # away, so at -6 dB the reverberation can move its cross-correlation peak there.)


def test_a_strong_early_reflection_at_low_drr_does_not_move_the_output(tmp_path):
    # Direct tap 1.0, a reflection of 0.6 at 3 ms: at -6 dB the reflection is scaled above the
    # direct tap (to ~2.0), yet the output is aligned on the direct sound, not on it.
    h = np.zeros(int(0.05 * SR), np.float32)
    reflection = int(0.003 * SR)
    h[0], h[reflection] = 1.0, 0.6
    sf.write(tmp_path / "early.wav", h, SR, subtype="FLOAT")
    stage = Reverb(dir=str(tmp_path), drr="-6:-6")
    [out] = run(stage, [impulse("r0")])
    at = int(0.5 * SR)
    assert np.max(np.abs(out.audio[:at])) < 1e-6 * np.max(np.abs(out.audio))  # nothing early
    assert out.audio[at] > 0 and out.audio[at + reflection] / out.audio[at] == pytest.approx(
        0.6 * 10 ** ((10 * np.log10(1 / 0.36) + 6) / 20), rel=1e-4)
    noise = (0.1 * np.random.default_rng(1).standard_normal(2 * SR)).astype(np.float32)
    [out] = run(stage, [Item(Record(id="r0", audio="n.wav", duration=2.0), noise.copy())])
    n = len(noise) + len(out.audio)
    c = np.fft.irfft(np.fft.rfft(out.audio, n) * np.conj(np.fft.rfft(noise, n)), n)
    # lag 0 holds the direct sound; no earlier lag correlates; the reflection follows at 3 ms
    assert c[0] > 0.3 * c[reflection] and np.max(np.abs(c[-200:])) < 0.1 * c[0]
    assert np.max(np.abs(c[1:reflection])) < 0.1 * c[0]


def test_speech_keeps_its_level_and_its_intervals():
    vad = Vad()
    for item in demo_items(8):
        [item] = run(vad, [item])
        dry, speech = item.audio.copy(), item.record.speech
        [out] = run(Reverb(), [item])
        entry = out.record.lineage[-1]
        assert out.record.speech == speech and out.duration == item.duration
        mask = intervals_mask(len(dry), speech)
        level = 10 * np.log10(mean_power(out.audio, mask) / mean_power(dry, mask))
        assert level == pytest.approx(20 * np.log10(entry["peak_scale"]), abs=0.01)
        assert np.max(np.abs(out.audio)) <= 0.99 + 1e-6


def test_draws_are_seeded_and_p_and_keep_clean_work():
    stage = Reverb()
    draws = [stage.draw(f"u{i}", Context(seed=4)) for i in range(300)]
    assert draws == [stage.draw(f"u{i}", Context(seed=4)) for i in range(300)]
    assert draws != [stage.draw(f"u{i}", Context(seed=5)) for i in range(300)]
    assert all(-6.0 <= d <= 12.0 and round(d, 1) == d for _, d in draws)
    [item] = demo_items(1)
    dry = item.audio.copy()
    orig, copy = run(Reverb(keep_clean=True), [item])
    assert orig is item and not orig.changed and np.array_equal(orig.audio, dry)
    assert copy.record.id == f"{item.record.id}#reverb" and copy.changed
    entry = copy.record.lineage[-1]
    assert {"file", "drr_db", "rir_drr_db", "level_db", "peak_scale", "seed"} <= set(entry)
    [untouched] = run(Reverb(p=0.0), demo_items(1))
    assert not untouched.changed and not untouched.record.lineage


def test_users_folders_and_bad_ones(tmp_path):
    (tmp_path / "car").mkdir()
    h = np.zeros(800, np.float32)
    h[0], h[300] = 1.0, 0.5
    sf.write(tmp_path / "car" / "two_taps.wav", h, 8000)  # resampled to 16 kHz on loading
    stage = Reverb(dir=str(tmp_path), drr="0:0")
    assert list(stage.rirs) == ["car/two_taps.wav"] and len(stage.rirs["car/two_taps.wav"]) == 1600
    [out] = run(stage, [impulse("x")])
    assert out.record.lineage[-1]["file"] == "car/two_taps.wav"
    assert measured_drr(out.audio) == pytest.approx(0.0, abs=0.01)

    with pytest.raises(ParamError, match="is not a folder"):
        Reverb(dir=str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ParamError, match="no audio files"):
        Reverb(dir=str(empty))
    sf.write(empty / "long.wav", np.ones(3 * SR, np.float32) * 0.1, SR)
    with pytest.raises(ParamError, match="long.wav lasts 3.0 s"):
        Reverb(dir=str(empty))
    (empty / "long.wav").unlink()
    sf.write(empty / "zero.wav", np.zeros(100, np.float32), SR)
    with pytest.raises(ParamError, match="zero.wav is silent"):
        Reverb(dir=str(empty))
    (empty / "broken.flac").write_bytes(b"fLaC not really")
    with pytest.raises(ParamError, match="broken.flac"):
        Reverb(dir=str(empty))


def test_the_bundle_is_small_and_documented():
    folder = bundled_rir_dir()
    assert sum(p.stat().st_size for p in folder.iterdir()) < 300_000
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert all(name in readme for name in Reverb().rirs)


def test_curate_run_gives_the_same_bytes_for_any_workers(tmp_path):
    kept = same_bytes_for_any_workers(tmp_path, "vad,reverb")
    assert len({r.lineage[-1]["file"] for r in kept}) > 1
