"""Audio measurements on generated audio with known properties."""
import numpy as np
import pytest
import soundfile as sf

from curate.checks import audio as A
from manifests.audio import TARGET_SR as SR
from manifests.audio import load
from tests.audio_gen import speechlike


def mix_at_snr(speech, snr_db, seed=1):
    """Speech plus white noise; the SNR is taken over the speech part (0.5 s lead, 0.5 s tail)."""
    body = speech[SR // 2:-SR // 2]
    noise = np.random.default_rng(seed).standard_normal(len(speech)).astype(np.float32)
    gain = np.sqrt(np.mean(body ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return (speech + gain * noise).astype(np.float32)


def test_snr_separates_clean_from_noisy():
    clean = speechlike(4.0, seed=3)  # its voiced bursts carry a little noise (~22 dB below)
    assert A.snr_db(clean) > 15
    estimates = [A.snr_db(mix_at_snr(clean, snr)) for snr in (0, 5, 20)]
    assert estimates[0] < estimates[1] < estimates[2]
    assert estimates[1] == pytest.approx(5, abs=4)
    assert estimates[2] > 12


def test_snr_uses_vad_intervals_when_given():
    noisy = mix_at_snr(speechlike(4.0, seed=4), 5)
    assert A.snr_db(noisy, speech=[[0.5, 4.5]]) == pytest.approx(5, abs=3)


def test_level_clipping_and_dc():
    x = speechlike(3.0, seed=5)
    level = A.level_dbfs(x)
    assert A.level_dbfs(x * 0.01) == pytest.approx(level - 40, abs=0.5)
    assert A.clip_ratio(x) == 0.0
    loud = np.clip(x * 20, -1, 1)
    assert A.clip_ratio(loud) > 0.01
    assert A.dc_offset(x + 0.05) == pytest.approx(0.05 + A.dc_offset(x), abs=1e-6)
    assert A.level_dbfs(np.zeros(SR, dtype=np.float32)) == A.SILENCE_DB


def test_content_hash_survives_a_lossless_re_encoding(tmp_path):
    pcm = (speechlike(2.0, seed=6) * 32767).astype(np.int16)  # one quantisation for both files
    sf.write(tmp_path / "a.wav", pcm, SR, subtype="PCM_16")
    sf.write(tmp_path / "b.flac", pcm, SR, subtype="PCM_16")
    a, b = load(str(tmp_path / "a.wav")), load(str(tmp_path / "b.flac"))
    assert A.content_hash(a) == A.content_hash(b)
    assert A.content_hash(a) != A.content_hash(a * 0.5)
