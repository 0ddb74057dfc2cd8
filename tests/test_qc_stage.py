"""The qc stage on generated clips with known problems."""
import numpy as np
import pytest

from curate.stage import Context, Item, ParamError
from manifests import Record
from plugins.qc import QC
from tests.audio_gen import speechlike

SR = 16000
TEXT = "打开空调把温度调到二十二度然后导航去公司再播放一首周杰伦的晴天谢谢你啊" * 3


def clip(body_s, seed, text=None, **kw):
    """A speech-like clip (0.5 s of near-silence either side) labelled at ~3.5 characters per
    second of speech, unless ``text`` says otherwise."""
    audio = kw.pop("audio", None)
    if audio is None:
        audio = speechlike(body_s, seed=seed)
    if text is None:
        text = TEXT[:max(1, round(3.5 * body_s))]
    rec = Record(id=kw.pop("id", f"utt{seed}"), audio="/nowhere.flac", duration=len(audio) / SR,
                 text=text, sample_rate=kw.pop("sample_rate", 16000),
                 channels=kw.pop("channels", 1), **kw)
    return Item(rec, audio)


def dataset(extra):
    ordinary = [clip(2.0 + 0.2 * i, seed=i) for i in range(24)]
    return ordinary + extra


def run(stage, items):
    ctx = Context()
    stage.prepare((it.record for it in items), ctx)
    return {it.record.id: it for it in stage(iter(items), ctx)}


def _problem_items():
    quiet = speechlike(3.0, seed=50) * 0.003
    noisy = speechlike(3.0, seed=51)
    noisy = noisy + 0.25 * np.random.default_rng(0).standard_normal(len(noisy)).astype(np.float32)
    return [
        clip(1.0, 40, text=TEXT[:40], id="too_fast"),
        clip(6.0, 41, text="好", id="too_slow"),
        clip(2.0, 42, text="", id="empty"),
        clip(2.0, 43, text="我想去～那个地方", id="fuzzy"),
        clip(2.0, 44, text="打开空调把温度", hyp="关闭车窗和天窗", id="mismatch"),
        clip(2.0, 45, text="打开空调把温度", extra={"text_b": "打开空调，把温度"}, id="agreed"),
        clip(2.0, 46, text="打开空调把温度", extra={"text_b": "关掉车窗了吧"}, id="disagreed"),
        clip(2.0, 47, text="打开\ufffd空调，好.", id="bad_chars"),
        clip(2.0, 48, text="调到2十二度风量3档", id="numerals"),
        clip(3.0, 49, audio=np.clip(speechlike(3.0, seed=49) * 20, -1, 1), id="clipped"),
        clip(3.0, 50, audio=quiet, id="quiet"),
        clip(3.0, 51, audio=noisy, id="noisy"),
        clip(3.0, 52, audio=speechlike(3.0, seed=52) + 0.05, id="dc"),
        clip(3.0, 53, sample_rate=8000, channels=2, id="format"),
    ]


EXPECTED = {
    "too_fast": "rate_too_fast", "too_slow": "rate_too_slow", "empty": "empty_label",
    "fuzzy": "fuzzy", "mismatch": "label_hyp_mismatch", "disagreed": "annotator_mismatch",
    "bad_chars": "bad_chars", "numerals": "mixed_numerals", "clipped": "clipping",
    "quiet": "low_level", "noisy": "low_snr", "dc": "dc_offset", "format": "odd_sample_rate",
}


def test_planted_problems_are_tagged_and_ordinary_clips_pass():
    out = run(QC(), dataset(_problem_items()))
    for rid, tag in EXPECTED.items():
        assert tag in out[rid].record.tags, (rid, out[rid].record.tags, out[rid].record.extra)
    assert "mixed_punct" in out["bad_chars"].record.tags
    assert "odd_channels" in out["format"].record.tags
    assert out["agreed"].record.tags == [] and out["agreed"].record.extra["qc"]["cer_text_b"] == 0
    ordinary = [it for rid, it in out.items() if rid.startswith("utt")]
    assert all(it.record.tags == [] for it in ordinary), [
        (it.record.id, it.record.tags) for it in ordinary if it.record.tags]
    assert not any(it.rejected for it in out.values())


def test_measurements_are_recorded():
    out = run(QC(), dataset(_problem_items()))
    qc = out["fuzzy"].record.extra["qc"]
    assert qc["markers"] == {"count": 1, "positions": [3]}
    assert qc["rate_basis"] == "energy" and 1.5 < qc["speech_s"] < 2.5
    assert qc["rate"] == pytest.approx(qc["units"] / qc["speech_s"], rel=1e-3)
    assert qc["sample_rate"] == 16000 and len(qc["audio_hash"]) == 20
    fast = out["too_fast"].record.extra["qc"]
    assert fast["rate"] > fast["rate_band"][1]
    assert out["bad_chars"].record.extra["qc"]["bad_chars"] == ["U+FFFD"]
    assert out["numerals"].record.extra["qc"]["mixed_numerals"] == ["2十二"]
    assert out["clipped"].record.extra["qc"]["clip_ratio"] > 0.01


def test_vad_intervals_are_used_when_present():
    item = clip(2.0, 7)
    item.record.speech = [[0.5, 1.5]]  # the vad heard only one second
    qc = run(QC(), [item])["utt7"].record.extra["qc"]
    assert qc["rate_basis"] == "vad" and qc["speech_s"] == pytest.approx(1.0)
    assert qc["rate"] == pytest.approx(7.0)


def test_empty_vad_intervals_fall_back_to_the_clip_duration():
    # speech == [] (vad ran and kept nothing) against a band measured per second of clip
    item = clip(2.0, 8, id="silent_vad")
    item.record.speech = []
    out = run(QC(), dataset([item]))
    qc = out["silent_vad"].record.extra["qc"]
    assert qc["rate_basis"] == "duration" and qc["speech_s"] == pytest.approx(item.duration)
    assert not out["silent_vad"].rejected


def test_drop_rejects_with_a_reason_and_reruns_measure_afresh():
    items = dataset(_problem_items())
    out = run(QC(drop="empty_label,fuzzy"), items)
    assert out["empty"].rejected == "qc:empty_label" and out["empty"].rejected_by == "qc"
    assert out["fuzzy"].rejected == "qc:fuzzy"
    noisy = out["noisy"]
    assert not noisy.rejected and noisy.record.tags == ["low_snr"]
    assert run(QC(), [noisy])["noisy"].record.tags == ["low_snr"]     # tagged once, not twice
    # a rerun replaces qc's own tags and measurements, and keeps what other stages added
    noisy.record.tags.append("noise")
    noisy.record.extra["qc"]["stale"] = True
    again = run(QC(snr_min=-50), [noisy])["noisy"].record
    assert again.tags == ["noise"] and "stale" not in again.extra["qc"]


def test_a_derived_record_is_measured_again_and_keeps_its_sources_tags():
    out = run(QC(), dataset(_problem_items()))
    noisy = out["noisy"]
    assert noisy.record.extra["qc"]["on"]["id"] == "noisy"
    # A slice of it (as chunk30 cuts one) carries its tags and measurements, which are not its own.
    piece = noisy.slice(0.5, 2.5, "noisy#c0")
    assert piece.record.extra["qc"]["audio_hash"] == noisy.record.extra["qc"]["audio_hash"]
    piece.audio = speechlike(1.0, seed=99)  # clean audio: this piece measures clean
    again = run(QC(), [piece])["noisy#c0"].record
    qc = again.extra["qc"]
    assert qc["on"]["id"] == "noisy#c0"
    assert qc["audio_hash"] != noisy.record.extra["qc"]["audio_hash"]
    assert qc["snr_db"] > 10 and again.tags == ["low_snr"] and qc["inherited"] == ["low_snr"]
    # Measured again as it is, the inherited tag stays inherited; its own are measured afresh.
    twice = run(QC(), [Item(again, piece.audio)])["noisy#c0"].record
    assert twice.tags == ["low_snr"] and twice.extra["qc"]["inherited"] == ["low_snr"]
    # drop= follows what a record holds itself: the clean piece of a low-SNR clip stays
    kept = run(QC(drop="low_snr"), [Item(again, piece.audio)])["noisy#c0"]
    assert not kept.rejected and kept.record.tags == ["low_snr"]


def test_a_clean_chunk_of_a_fuzzy_recording_is_not_dropped_for_fuzzy():
    out = run(QC(), dataset(_problem_items()))
    fuzzy = out["fuzzy"]
    assert "fuzzy" in fuzzy.record.tags
    piece = fuzzy.slice(0.0, 1.5, "fuzzy#c0")
    piece.record.text = "我想去"                      # its own sentence holds no marker
    kept = run(QC(drop="fuzzy"), [piece])["fuzzy#c0"]
    assert not kept.rejected and kept.record.extra["qc"]["inherited"] == ["fuzzy"]
    piece.record.text = "我想去～"                    # it does: dropped
    assert run(QC(drop="fuzzy"), [piece])["fuzzy#c0"].rejected == "qc:fuzzy"


def test_small_datasets_use_the_absolute_bounds_only():
    stage = QC(rate_bounds="1:6")
    out = run(stage, [clip(2.0, 1), clip(1.0, 2, text=TEXT[:20], id="fast")])
    assert stage.band is None
    assert out["fast"].record.extra["qc"]["rate_band"] == [1.0, 6.0]
    assert out["fast"].record.tags == ["rate_too_fast"]


def test_parameters_are_checked():
    with pytest.raises(ParamError, match="unknown tag"):
        QC(drop="noisy")
    with pytest.raises(ParamError, match="across the whole run"):
        QC(drop="dup_audio")
    with pytest.raises(ParamError, match="whole numbers"):
        QC(sample_rates="16k")
    assert QC(markers="##,~").markers == ("##", "~")
