"""codec stage: nothing above the band edge, G.711's 8-bit noise, aligned output of the same
length, unavailable codecs refused up front, seeded draws, same bytes for any --workers."""
import numpy as np
import pytest

from curate.stage import SR, Context, ParamError
from plugins.codec import CODERS, Codec, code
from tests.test_stage_speed import _lag, demo_items, run, same_bytes_for_any_workers

NARROW = ("narrowband", "ulaw", "alaw", "gsm")


def blackman_harris(n: int) -> np.ndarray:
    t = 2 * np.pi * np.arange(n) / n
    return 0.35875 - 0.48829 * np.cos(t) + 0.14128 * np.cos(2 * t) - 0.01168 * np.cos(3 * t)


def share_above_db(audio: np.ndarray, edge_hz: float) -> float:
    """Energy above ``edge_hz`` over all energy, in dB, from one windowed FFT of the clip."""
    power = np.abs(np.fft.rfft(audio.astype(np.float64) * blackman_harris(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    return 10 * np.log10(max(power[freqs > edge_hz].sum(), 1e-300) / power.sum())


@pytest.mark.parametrize("name,edge", [(n, 4000.0) for n in NARROW] + [("wideband", 7000.0)])
def test_no_energy_above_the_band_edge(name, edge):
    # Bound: soxr HQ (20-bit precision) stops everything past the edge by >= 120 dB, and its
    # passband ends at 91.3 % of the edge, >= 350 Hz under it (>= 350 bins on clips >= 1 s); the
    # Blackman-Harris window's sidelobes (-92 dB, falling 6 dB/octave) leak under -104 dB from
    # there. Energy above the edge is therefore below -100 dB.
    for item in demo_items(6):
        assert item.duration >= 1.0
        before = share_above_db(item.audio, edge)
        [out] = run(Codec(codecs=name), [item])
        assert before > -60.0  # 40 dB over the bound: the test can fail
        assert share_above_db(out.audio, edge) < -100.0
        assert out.record.lineage[-1]["codec"] == name and f"codec:{name}" in out.record.tags


def test_g711_adds_the_noise_of_an_8_bit_logarithmic_code():
    # ITU-T G.711 keeps a signal-to-quantisation-noise ratio of ~38 dB over the 40 dB of levels
    # speech spans; 16-bit PCM would give ~98 dB, no coding infinity.
    for item in demo_items(4):
        band = code(item.audio, CODERS["narrowband"])
        for name in ("ulaw", "alaw"):
            coded = code(item.audio, CODERS[name])
            noise = (coded - band).astype(np.float64)
            snr = 10 * np.log10(np.sum(band.astype(np.float64) ** 2) / np.sum(noise ** 2))
            assert 33.0 < snr < 43.0, (item.record.id, name, snr)


@pytest.mark.parametrize("name", list(CODERS))
def test_output_is_as_long_as_the_input_and_not_delayed(name):
    import soundfile as sf

    coder = CODERS[name]
    if coder.format and coder.subtype not in sf.available_subtypes(coder.format):
        pytest.skip(f"this libsndfile cannot write {name}")
    noise = (0.1 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)
    for audio in [noise] + [it.audio for it in demo_items(3)]:
        out = code(audio, coder)
        assert out.dtype == np.float32 and len(out) == len(audio)
        # A codec delay would put the cross-correlation peak at the delay (Opus' pre-skip: 312
        # samples at 48 kHz; LAME's: 1105 at 16 kHz)
        assert _lag(audio, out) == 0


def test_codecs_this_soundfile_cannot_write_are_refused(monkeypatch):
    import soundfile as sf

    with pytest.raises(ParamError, match="unknown codec amr"):
        Codec(codecs="ulaw,amr")
    monkeypatch.setattr(sf, "available_subtypes",
                        lambda fmt=None: {"PCM_16": "Signed 16 bit PCM"})
    with pytest.raises(ParamError, match="cannot write ulaw, gsm"):
        Codec(codecs="narrowband,ulaw,gsm")
    assert Codec(codecs="narrowband,wideband").codecs == ("narrowband", "wideband")


def test_draws_are_seeded_and_p_and_keep_clean_work():
    codec = Codec()
    draws = [codec.draw(f"u{i}", Context(seed=2)) for i in range(1000)]
    assert draws == [codec.draw(f"u{i}", Context(seed=2)) for i in range(1000)]
    assert draws != [codec.draw(f"u{i}", Context(seed=3)) for i in range(1000)]
    # binomial(1000, 1/5) per codec: sd 12.6, so 200 ± 60 is a 4.7 sd band
    assert all(140 < draws.count(c) < 260 for c in codec.codecs)
    [item] = demo_items(1)
    clean = item.audio.copy()
    orig, copy = run(Codec(keep_clean=True), [item])
    assert orig is item and not orig.changed and np.array_equal(orig.audio, clean)
    assert copy.record.id == f"{item.record.id}#codec" and copy.changed
    entry = copy.record.lineage[-1]
    assert entry["stage"] == "codec" and entry["seed"] == 7 and entry["codec"] in codec.codecs
    [untouched] = run(Codec(p=0.0), demo_items(1))
    assert not untouched.changed and not untouched.record.lineage


def test_curate_run_gives_the_same_bytes_for_any_workers(tmp_path):
    kept = same_bytes_for_any_workers(tmp_path, "vad,codec")
    assert len({r.lineage[-1]["codec"] for r in kept}) > 1
