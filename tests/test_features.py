"""curate features: the log-mel Qwen2-Audio's encoder sees for an augmented copy and its clean twin,
on audio made here and run through `curate run ... keep_clean=true`."""
import importlib.util
import json
import math
import re
import struct
import sys
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli import app
from manifests import Record, read_manifest, write_manifest
from manifests.audio import load
from tests.audio_gen import speechlike, write
from tests.browser import DevTools, needs_chromium, open_page, page_errors
from tests.cli import ok

from curate.features import (EMPTY, GAP_PX, MEL_ROW_PX, figure, find_pair, frame_distance,
                             layout, notes)
from curate.stage import Context, Item
from manifests.rundir import open_run
from plugins.speed import Speed
from train_adapter.features import log_mel

needs_transformers = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                        reason="the feature extractor needs the train extra")

PHONE = "13812345678"
HOSTILE = "<img src=x onerror=alert(1)>"
TEXTS = [f"导航到公司 电话{PHONE}", f"打开空调 {HOSTILE}"]


def _run(tmp, plugins: str, *sets: str):
    records = [Record(id=f"utt{i}", audio=write(tmp / f"{i}.wav", speechlike(2.0, seed=i)),
                      duration=3.0, text=TEXTS[i]) for i in range(2)]
    write_manifest(tmp / "in.jsonl", records)
    run = tmp / "run"
    args = ["run", str(tmp / "in.jsonl"), "--plugins", plugins, "--out", str(run),
            "--workers", "1"]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return run


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("features"), "vad,noise", "noise.keep_clean=true")


def _records(run) -> dict:
    return {r.id: r for path in open_run(run).files() for r in read_manifest(path)}


def _frames(record) -> int:
    """Whisper's hop of 160 samples at 16 kHz: 100 frames per second, the last one partial."""
    return math.ceil(round(record.duration * 16000) / 160)


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB PNG with unfiltered rows (what features.png is) as height × width × 3."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()   # filter type 0 on every row
    return rows[:, 1:].reshape(height, width, 3)


@needs_transformers
def test_features_of_a_noisy_copy(noisy_run, tmp_path):
    noisy = _records(noisy_run)["utt0#noise"]
    res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", "utt0#noise",
                                   "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    frames = _frames(noisy)
    assert frames == pytest.approx(100 * noisy.duration, abs=1)
    assert f"mel frames {frames} clean / {frames} augmented" in res.output
    assert f"encoder frames {(frames - 1) // 2 + 1} / {(frames - 1) // 2 + 1}" in res.output
    assert "3000-frame window" in res.output
    mean, peak = map(float, re.search(r"mean ([\d.]+), max ([\d.]+)", res.output).groups())
    assert 0 < mean <= peak

    image = decode_png((tmp_path / "f" / "features.png").read_bytes())
    frame_px = image.shape[1] // frames
    assert image.shape[1] == frames * frame_px and frame_px >= 1
    mel_h = 128 * MEL_ROW_PX
    assert image.shape[0] > 2 * (mel_h + GAP_PX)
    clean_panel, noisy_panel = image[:mel_h], image[mel_h + GAP_PX:2 * mel_h + GAP_PX]
    assert (image[mel_h:mel_h + GAP_PX] == 255).all()     # the white gap between panels
    assert (clean_panel != noisy_panel).any(axis=-1).mean() > 0.5   # noise shows everywhere
    distance_panel = image[2 * (mel_h + GAP_PX):]
    assert (distance_panel != 255).any()                   # bars drawn


@needs_transformers
def test_log_mel_is_what_the_encoder_sees_and_the_distance_follows(noisy_run):
    pair = find_pair(open_run(noisy_run), "utt1#noise")
    assert pair.clean.id == "utt1" and pair.stage == "noise" and "snr_db" in pair.step
    clean_audio = load(pair.clean.audio, pair.clean.offset, pair.clean.duration)
    noisy_audio = load(pair.augmented.audio, pair.augmented.offset, pair.augmented.duration)
    clean, noisy = log_mel(clean_audio), log_mel(noisy_audio)
    frames = _frames(pair.clean)
    assert clean.values.shape == noisy.values.shape == (128, frames)
    assert clean.window_frames == 3000 and not clean.truncated
    assert clean.encoder_frames == (frames - 1) // 2 + 1
    assert np.all(frame_distance(clean.values, clean.values) == 0)
    distance = frame_distance(clean.values, noisy.values)
    assert distance.shape == (frames,) and distance.min() > 0
    # the same clip at 30 s is padded to the window and cut there: 3000 frames, the end unseen
    long = log_mel(np.tile(clean_audio, math.ceil(31 * 16000 / len(clean_audio))))
    assert long.values.shape == (128, 3000) and long.truncated


@needs_transformers
def test_html_masks_personal_data_and_escapes_texts(noisy_run, tmp_path):
    for rid in ("utt0#noise", "utt1#noise"):
        res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", rid,
                                       "--out", str(tmp_path / rid.split("#")[0])])
        assert res.exit_code == 0, res.output
    page0 = (tmp_path / "utt0" / "features.html").read_text(encoding="utf-8")
    page1 = (tmp_path / "utt1" / "features.html").read_text(encoding="utf-8")
    assert PHONE not in page0 and "导航到公司" in page0
    assert HOSTILE not in page1 and "&lt;img src=x onerror=alert(1)&gt;" in page1
    distances = json.loads(re.search(r'<script type="application/json" id="distance">(.*?)'
                                     r"</script>", page0).group(1))
    assert len(distances) == _frames(_records(noisy_run)["utt0#noise"])


@needs_transformers
def test_default_out_is_inside_the_run(noisy_run):
    res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", "utt1#noise"])
    assert res.exit_code == 0, res.output
    written = list((noisy_run / "features").glob("*/features.png"))
    assert len(written) == 1 and written[0].parent.name.startswith("utt1_noise-")
    open_run(noisy_run)   # the run directory still verifies


def test_a_clean_or_unknown_id_is_refused_with_the_reason(noisy_run):
    res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", "utt0"])
    assert res.exit_code == 2
    assert "'utt0' has no clean twin" in res.output and "'utt0#noise'" in res.output
    res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", "utt9#noise"])
    assert res.exit_code == 2 and "no record 'utt9#noise'" in res.output


def test_a_copy_whose_twin_is_not_in_the_run_says_so(noisy_run, tmp_path):
    # the noisy copies alone (a subset someone made of an augmented run) run again: no twin;
    # utt1#noise cut to 0.5 s, which short rejects
    copies = sorted((r for r in _records(noisy_run).values() if r.id.endswith("#noise")),
                    key=lambda r: r.id)
    copies[1].duration = 0.5
    write_manifest(tmp_path / "noisy.jsonl", copies)
    run = tmp_path / "run"
    ok(["run", str(tmp_path / "noisy.jsonl"), "--plugins", "short", "--out", str(run),
        "--workers", "1"])
    res = CliRunner().invoke(app, ["features", str(run), "--id", "utt0#noise"])
    assert res.exit_code == 2, res.output
    assert "'utt0#noise' was made by noise from 'utt0', which is not in" in res.output
    res = CliRunner().invoke(app, ["features", str(run), "--id", "utt1#noise"])
    assert res.exit_code == 2, res.output
    assert "no record 'utt1#noise'" in res.output
    assert "(it is in rejected.jsonl: too_short)" in res.output


def test_a_twin_whose_lineage_the_copy_does_not_continue_is_refused(noisy_run, tmp_path):
    records = _records(noisy_run)
    clean, copy = records["utt0"], records["utt0#noise"]
    clean.lineage = [{**clean.lineage[0], "trim": [0.0, 1.0]}]   # not the record noise copied
    write_manifest(tmp_path / "pair.jsonl", [clean, copy])
    run = tmp_path / "run"
    ok(["run", str(tmp_path / "pair.jsonl"), "--plugins", "short", "--out", str(run),
        "--workers", "1"])
    res = CliRunner().invoke(app, ["features", str(run), "--id", "utt0#noise"])
    assert res.exit_code == 2, res.output
    assert "do not share their lineage before noise" in res.output


@needs_transformers
def test_a_speed_copy_is_drawn_on_one_time_axis_and_the_length_change_is_said():
    clean_audio = speechlike(2.0, seed=3)
    item = Item(Record(id="s", audio="s.wav", duration=len(clean_audio) / 16000), clean_audio)
    stage = Speed(factors="0.8", keep_clean=True)
    stage.validate()
    clean_item, slow_item = stage([item], Context(seed=0))
    assert slow_item.record.id == "s#speed"
    clean, slow = log_mel(clean_item.audio), log_mel(slow_item.audio)
    assert slow.frames == math.ceil(len(slow_item.audio) / 160) > clean.frames
    distance = frame_distance(clean.values, slow.values)
    assert distance.shape == (clean.frames,)
    told = notes(clean, slow)
    assert len(told) == 1 and "the stage changed the time axis" in told[0]
    image = decode_png(figure(clean.values, slow.values, distance)[0])
    lay = layout(clean.values, slow.values)
    assert lay.frames == slow.frames and image.shape[:2] == (lay.height, lay.width)
    # the clean panel is shaded where the clean clip has ended and the slow one goes on
    beyond = image[:128 * MEL_ROW_PX, clean.frames * lay.frame_px:]
    assert beyond.size and (beyond == EMPTY).all()


@needs_transformers
def test_speed_copies_through_the_command(tmp_path):
    run = _run(tmp_path, "vad,speed", "speed.keep_clean=true", "speed.factors=0.8")
    records = _records(run)
    clean, slow = records["utt0"], records["utt0#speed"]
    res = CliRunner().invoke(app, ["features", str(run), "--id", "utt0#speed",
                                   "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert f"mel frames {_frames(clean)} clean / {_frames(slow)} augmented" in res.output
    assert "the stage changed the time axis" in res.output


def test_without_transformers_the_error_names_the_extra(noisy_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)   # import transformers fails
    res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", "utt0#noise"])
    assert res.exit_code == 2
    assert "pip install 'curate[train]'" in res.output


PAGE_FACTS = """(() => {
  const img = document.querySelector("#features img");
  const r = img.getBoundingClientRect();
  return {complete: img.complete, natural: [img.naturalWidth, img.naturalHeight],
          shown: [r.width, r.height], images: document.images.length,
          distances: JSON.parse(document.getElementById("distance").textContent).length,
          text: document.body.innerText};
})()"""


@needs_transformers
@needs_chromium
def test_the_page_renders_in_chromium_with_the_figure_visible(noisy_run, tmp_path):
    for rid in ("utt0#noise", "utt1#noise"):
        res = CliRunner().invoke(app, ["features", str(noisy_run), "--id", rid,
                                       "--out", str(tmp_path / rid.split("#")[0])])
        assert res.exit_code == 0, res.output
    browser = DevTools(tmp_path / "profile")
    facts = {}
    try:
        for name in ("utt0", "utt1"):
            facts[name], _ = open_page(browser, tmp_path / name / "features.html", PAGE_FACTS)
    finally:
        browser.close()
    errors = page_errors(browser)
    assert not errors, errors
    records = _records(noisy_run)
    png = decode_png((tmp_path / "utt0" / "features.png").read_bytes())
    for name, f in facts.items():
        assert f["complete"] and f["images"] == 1, f    # the hostile text made no image
        assert f["shown"][0] > 300 and f["shown"][1] > 300, f
        assert f["distances"] == _frames(records[f"{name}#noise"])
    assert facts["utt0"]["natural"] == [png.shape[1], png.shape[0]]
    assert PHONE not in facts["utt0"]["text"] and "导航到公司" in facts["utt0"]["text"]
    assert HOSTILE in facts["utt1"]["text"]     # shown as the text it is


@pytest.fixture(scope="module")
def phone_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("phone_id")
    rid = f"call_{PHONE}"
    write_manifest(tmp / "in.jsonl", [Record(id=rid, audio=write(tmp / "0.wav",
                                                                   speechlike(2.0, seed=0)),
                                             duration=3.0, text="打开空调")])
    run = tmp / "run"
    res = CliRunner().invoke(app, ["run", str(tmp / "in.jsonl"), "--plugins", "vad,noise",
                                   "--set", "noise.keep_clean=true", "--out", str(run),
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    return run, rid


def test_an_id_holding_personal_data_is_masked_in_errors(phone_run):
    run, rid = phone_run
    res = CliRunner().invoke(app, ["features", str(run), "--id", rid])
    assert res.exit_code == 2, res.output
    assert PHONE not in res.output
    assert "'call_138****5678' has no clean twin" in res.output
    assert "'call_138****5678#noise'" in res.output
    res = CliRunner().invoke(app, ["features", str(run), "--id", f"x{PHONE}#noise"])
    assert res.exit_code == 2 and PHONE not in res.output


@needs_transformers
def test_an_id_holding_personal_data_is_masked_in_the_default_out(phone_run):
    run, rid = phone_run
    res = CliRunner().invoke(app, ["features", str(run), "--id", f"{rid}#noise"])
    assert res.exit_code == 0, res.output
    assert PHONE not in res.output
    written = list((run / "features").glob("*/features.png"))
    assert len(written) == 1 and PHONE not in written[0].parent.name
    assert written[0].parent.name.startswith("call_138_5678_noise-")
