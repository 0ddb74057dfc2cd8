"""vad stage: trimming to speech ± pad as a slice of the source, speech intervals, rejections."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import curate
from curate.stage import SR, Context, Item, ParamError
from manifests import Record, read_manifest
from manifests.audio import load
from plugins.vad import Vad, smooth

DEMO = Path(curate.__file__).parent / "demo" / "manifest.jsonl"


def demo_audio(record_id: str) -> np.ndarray:
    rec = next(r for r in read_manifest(DEMO) if r.id == record_id)
    return load(rec.audio, rec.offset, rec.duration)


def item_from(tmp_path: Path, audio: np.ndarray, name: str = "clip", **fields) -> Item:
    """Write ``audio`` as a source file and return the decoded item of a record pointing at it."""
    path = tmp_path / f"{name}.flac"
    sf.write(path, audio, SR, subtype="PCM_16")
    decoded = load(str(path))
    rec = Record(id=name, audio=str(path), duration=len(decoded) / SR, **fields)
    return Item(rec, decoded, sources=(name,))


def run(stage, *items):
    return list(stage(iter(items), Context(seed=1)))


def floor(seconds: float, seed: int) -> np.ndarray:
    """A quiet room: noise 60 dB under full scale."""
    return np.random.default_rng(seed).normal(0, 1e-3, int(seconds * SR)).astype(np.float32)


def test_trims_to_speech_with_pad_and_keeps_pointing_at_the_source(tmp_path):
    speech = demo_audio("nav_001")
    vad = Vad()
    inner = vad.detect(speech)
    assert inner, "the demo clip holds speech"
    padded = np.concatenate([floor(1.5, 1), speech, floor(2.0, 2)])
    item = item_from(tmp_path, padded)
    [out] = run(vad, item)

    assert out.rejected is None and out.changed is False
    first, last = inner[0][0] + 1.5, inner[-1][1] + 1.5
    # Trimmed to the speech ± 0.2 s, give or take one 30 ms frame of detection.
    assert out.record.offset == pytest.approx(first - 0.2, abs=0.035)
    assert out.record.offset + out.duration == pytest.approx(last + 0.2, abs=0.035)
    # Unchanged samples: the record's slice of its source file is exactly the item's audio.
    again = load(out.record.audio, out.record.offset, out.record.duration)
    np.testing.assert_array_equal(again, out.audio)
    # Speech intervals are relative to the trimmed start: the first begins after the pad.
    assert out.record.speech[0][0] == pytest.approx(0.2, abs=0.035)
    assert out.record.speech[-1][1] <= out.duration
    assert out.record.lineage[-1]["stage"] == "vad"
    assert out.record.lineage[-1]["trim"][0] == pytest.approx(out.record.offset, abs=1e-3)


def test_silence_and_noise_only_are_rejected_as_no_speech(tmp_path):
    silent = item_from(tmp_path, np.zeros(3 * SR, np.float32), "silent")
    hum = item_from(tmp_path, floor(3.0, 3), "hum")
    out = run(Vad(), silent, hum)
    assert [(it.record.id, it.rejected, it.rejected_by) for it in out] == [
        ("silent", "no_speech", "vad"), ("hum", "no_speech", "vad")]


def test_short_pauses_are_bridged_long_pauses_are_kept(tmp_path):
    a, b = demo_audio("nav_001"), demo_audio("call_001")
    vad = Vad(hangover=0.3)
    ia, ib = vad.detect(a), vad.detect(b)
    # Cut each clip to its detected speech, so the only pause is the one placed between them.
    a = a[int(ia[0][0] * SR):int(ia[-1][1] * SR)]
    b = b[int(ib[0][0] * SR):int(ib[-1][1] * SR)]
    close = np.concatenate([floor(1, 4), a, np.zeros(int(0.15 * SR), np.float32), b, floor(1, 5)])
    far = np.concatenate([floor(1, 4), a, np.zeros(int(1.0 * SR), np.float32), b, floor(1, 5)])
    assert len(vad.detect(close)) == 1, "a 0.15 s pause is bridged"
    gaps = _gaps(Vad(hangover=0.0).detect(close))
    assert len(gaps) == 1 and gaps[0] == pytest.approx(0.15, abs=0.065), "without hangover"
    gaps = _gaps(vad.detect(far))
    assert len(gaps) == 1 and gaps[0] == pytest.approx(1.0, abs=0.065), "a 1 s pause stays"


def _gaps(intervals):
    return [b[0] - a[1] for a, b in zip(intervals, intervals[1:])]


def test_smoothing_bridges_pauses_and_drops_clicks():
    flags = np.array([0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], dtype=bool)
    # 30 ms frames: a 60 ms pause is bridged (< 0.1 s), a lone 30 ms click is dropped (< 0.05 s).
    assert smooth(flags, 0.03, hangover=0.1, min_speech=0.05) == [[0.03, 0.3]]
    assert smooth(flags, 0.03, hangover=0.0, min_speech=0.0) == [
        [0.03, 0.15], [0.21, 0.3], [0.51, 0.54]]


def test_never_trims_into_a_labelled_sentence(tmp_path):
    speech = demo_audio("nav_001")
    padded = np.concatenate([floor(2.0, 6), speech, floor(2.0, 7)])
    # A sentence timestamp that starts in the quiet lead-in: trimming must not cut it.
    segments = [{"start": 0.5, "end": 2.0 + len(speech) / SR, "text": "导航"}]
    item = item_from(tmp_path, padded, text="导航", segments=segments)
    [out] = run(Vad(), item)
    assert out.record.offset <= 0.5 + 1e-6
    assert out.record.segments and out.record.segments[0]["start"] >= 0


def test_silero_backend_agrees_with_webrtc(tmp_path):
    pytest.importorskip("silero_vad", reason="the optional 'silero' extra is not installed")
    speech = demo_audio("clim_001")
    padded = np.concatenate([floor(1.0, 8), speech, floor(1.5, 9)])
    [web] = run(Vad(), item_from(tmp_path, padded, "w"))
    [sil] = run(Vad(backend="silero"), item_from(tmp_path, padded, "s"))
    assert sil.rejected is None and sil.changed is False
    assert sil.record.offset == pytest.approx(web.record.offset, abs=0.15)
    assert sil.record.offset + sil.duration == pytest.approx(web.record.offset + web.duration,
                                                             abs=0.15)
    [none] = run(Vad(backend="silero"), item_from(tmp_path, np.zeros(2 * SR, np.float32), "z"))
    assert none.rejected == "no_speech"


@pytest.mark.parametrize("settings, message", [
    ({"aggressiveness": "5"}, "expected one of 0, 1, 2, 3"),
    ({"pad": "-1"}, "vad.pad must be >= 0"),
    ({"backend": "whisper"}, "expected one of webrtc, silero"),
    ({"padding": "1"}, "valid: aggressiveness, backend, hangover, min_speech, pad"),
])
def test_bad_parameters_are_refused(settings, message):
    with pytest.raises(ParamError, match=message):
        Vad(**settings)
