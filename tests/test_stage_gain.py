"""gain stage: the level moves by the drawn dB, loud results are scaled down whole rather than
clipped (and the lineage says by how much), seeded draws, same bytes for any --workers."""
import numpy as np
import pytest

from curate.stage import Context, ParamError
from plugins.gain import Gain
from plugins.level import PEAK
from tests.test_stage_speed import demo_items, run, same_bytes_for_any_workers


def level_db(out: np.ndarray, ref: np.ndarray) -> float:
    return 10 * np.log10(np.sum(out.astype(np.float64) ** 2) / np.sum(ref.astype(np.float64) ** 2))


def test_the_level_moves_by_the_drawn_gain():
    for item in demo_items(6):
        reference = item.audio.copy()
        [out] = run(Gain(db="-12:-1"), [item])
        entry = out.record.lineage[-1]
        assert entry["stage"] == "gain" and -12.0 <= entry["gain_db"] <= -1.0
        assert entry["peak_scale"] == 1.0 and entry["applied_db"] == entry["gain_db"]
        # float32 products: rounding of ~1e-7 relative, far below 1e-4 dB
        assert level_db(out.audio, reference) == pytest.approx(entry["gain_db"], abs=1e-4)
        assert out.changed and f"gain:db={entry['gain_db']:.1f}" in out.record.tags


def test_loud_results_are_scaled_down_whole_not_clipped():
    [item] = demo_items(1)
    item.audio *= np.float32(0.9 / np.max(np.abs(item.audio)))
    reference = item.audio.copy()
    [out] = run(Gain(db="12:12"), [item])
    entry = out.record.lineage[-1]
    assert np.max(np.abs(out.audio)) == pytest.approx(PEAK, abs=1e-6)
    assert entry["gain_db"] == 12.0 and entry["peak_scale"] < 1.0
    # one factor over the clip: the waveform's shape is intact, nothing is flattened at the top
    ratio = out.audio[reference != 0] / reference[reference != 0]
    assert np.ptp(ratio) < 1e-5 * np.mean(ratio)
    assert level_db(out.audio, reference) == pytest.approx(entry["applied_db"], abs=0.01)
    assert entry["applied_db"] == pytest.approx(20 * np.log10(PEAK / 0.9), abs=0.01)


def test_draws_are_seeded_in_tenth_db_steps_and_p_and_keep_clean_work():
    gain = Gain()
    draws = [gain.draw(f"u{i}", Context(seed=1)) for i in range(400)]
    assert draws == [gain.draw(f"u{i}", Context(seed=1)) for i in range(400)]
    assert draws != [gain.draw(f"u{i}", Context(seed=2)) for i in range(400)]
    assert all(-12.0 <= d <= 6.0 and round(d, 1) == d for d in draws)
    hits = sum(Gain(p=0.25).draw(f"u{i}", Context()) is not None for i in range(4000))
    assert 850 < hits < 1150  # binomial(4000, 0.25): sd 27
    [item] = demo_items(1)
    clean = item.audio.copy()
    orig, copy = run(Gain(keep_clean=True), [item])
    assert orig is item and not orig.changed and np.array_equal(orig.audio, clean)
    assert copy.record.id == f"{item.record.id}#gain" and copy.changed
    with pytest.raises(ParamError, match="between 0 and 1"):
        Gain(p=2)


def test_curate_run_gives_the_same_bytes_for_any_workers(tmp_path):
    kept = same_bytes_for_any_workers(tmp_path, "gain")
    assert all(r.lineage[-1]["stage"] == "gain" for r in kept)
