"""Exporters on real audio: each format written and read back (by curate's importer, by lhotse,
by datasets), slices and stereo included; bad records set aside; nothing half-written."""
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from manifests import Problems, Record, read_manifest
from manifests.exporters import NothingToExport, export
from manifests.importers import read_source
from tests.audio_gen import speechlike, write

DEMO = Path(__file__).resolve().parent.parent / "curate" / "demo" / "manifest.jsonl"


@pytest.fixture
def records(tmp_path):
    """Whole files and slices, 16 kHz / 8 kHz / 44.1 kHz stereo, one long record with sentence
    timestamps, labels with spaces, a hyp, speakers."""
    d = tmp_path / "audio"
    d.mkdir()
    long = write(d / "drive.flac", speechlike(11, seed=1))                 # 12 s
    narrow = write(d / "call.wav", speechlike(2, seed=2, sr=8000), sr=8000)
    stereo = str(d / "cabin.wav")
    sf.write(stereo, np.stack([speechlike(1, seed=3, sr=44100),
                               speechlike(1, seed=4, sr=44100)], axis=1), 44100, subtype="PCM_16")
    whole = lambda p: sf.info(p).frames / sf.info(p).samplerate  # noqa: E731
    return [
        Record(id="drive-1", audio=long, offset=0.5, duration=3.25, text="导航到 人民广场",
               hyp="导航到人民广场", speaker="spk1", tags=["fuzzy"]),
        Record(id="drive-2", audio=long, offset=4.0, duration=8.0, text="打开空调 调到二十度",
               speaker="spk1", segments=[{"start": 0.5, "end": 3.0, "text": "打开空调"},
                                         {"start": 3.5, "end": 7.5, "text": "调到二十度"}]),
        Record(id="call", audio=narrow, duration=whole(narrow), text="给妈妈打电话",
               speaker="spk2"),
        Record(id="cabin", audio=stereo, duration=whole(stereo), text=""),
    ]


def reimport(path, fmt):
    problems = Problems()
    out = {r.id: r for r in read_source(path, fmt, problems)}
    assert len(problems) == 0, [str(p) for p in problems]
    return out


def assert_same(got, want, fields=("audio", "text", "speaker")):
    assert list(got) == [r.id for r in want]
    for r in want:
        g = got[r.id]
        assert g.offset == pytest.approx(r.offset, abs=1e-4)
        assert g.duration == pytest.approx(r.duration, abs=1e-3)
        for f in fields:
            assert getattr(g, f) == getattr(r, f), (r.id, f)


def test_nemo_round_trip_is_lossless(tmp_path, records):
    out = tmp_path / "export" / "manifest.json"
    assert export(records, "nemo", out, Problems()) == 4
    line = json.loads(out.read_text().splitlines()[0])
    assert line["audio_filepath"] == records[0].audio and line["offset"] == 0.5
    got = reimport(out, "nemo")
    assert_same(got, records, ("audio", "text", "speaker", "hyp", "segments", "tags"))


def test_nemo_paths_inside_the_folder_are_relative(tmp_path, records):
    out = tmp_path / "audio" / "nemo.jsonl"
    export(records, "nemo", out, Problems())
    assert json.loads(out.read_text().splitlines()[0])["audio_filepath"] == "drive.flac"
    assert_same(reimport(out, "nemo"), records)


def test_wenet_round_trip(tmp_path, records):
    out = tmp_path / "data.list"
    assert export(records, "wenet", out, Problems()) == 4
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {"start": 0.5, "end": 3.75} == {k: lines[0][k] for k in ("start", "end")}
    assert "start" not in lines[2]          # whole files are not sliced
    got = reimport(out, "wenet")
    assert_same(got, records, ("audio", "text", "speaker", "hyp"))


def test_kaldi_round_trip_with_segments(tmp_path, records):
    out = tmp_path / "kaldi"
    assert export(records, "kaldi", out, Problems()) == 4
    segments = (out / "segments").read_text().splitlines()
    # cabin (44.1 kHz) was resampled into a whole 16 kHz file of its own
    assert segments[0].split() == ["cabin", "cabin", "0.0000", f"{records[3].duration:.4f}"]
    wav_scp = (out / "wav.scp").read_text().splitlines()
    assert len(wav_scp) == 3                # one line per audio file
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "segments"):
        lines = (out / name).read_text().splitlines()
        assert lines == sorted(lines, key=lambda s: s.encode())
    assert "spk1 drive-1 drive-2" in (out / "spk2utt").read_text()
    got = reimport(out, "kaldi")
    want = sorted(records, key=lambda r: r.id)
    assert_same(got, want, ("text", "speaker"))
    assert got["drive-1"].audio == records[0].audio and got["drive-1"].sample_rate == 16000
    for rid in ("call", "cabin"):           # 8 kHz and 44.1 kHz: written at 16 kHz
        assert got[rid].audio == str(out / "audio" / f"{rid}.wav")
        assert (got[rid].sample_rate, got[rid].offset) == (16000, 0.0)


def test_kaldi_without_slices_has_no_segments_file(tmp_path, records):
    drive = records[0].audio
    whole = [Record(id="drive", audio=drive, duration=sf.info(drive).duration, text="开窗"),
             records[2]]
    out = tmp_path / "kaldi"
    export(whole, "kaldi", out, Problems())
    assert not (out / "segments").exists()
    assert (out / "wav.scp").read_text().split() == ["call", str(out / "audio" / "call.wav"),
                                                     "drive", drive]
    assert (out / "text").read_text() == "call 给妈妈打电话\ndrive 开窗\n"
    got = reimport(out, "kaldi")
    assert [(r.id, r.sample_rate, r.text) for r in got.values()] == [
        ("call", 16000, "给妈妈打电话"), ("drive", 16000, "开窗")]
    empty = [Record(id="quiet", audio=drive, duration=sf.info(drive).duration, text="")]
    export(empty, "kaldi", tmp_path / "k2", Problems())
    assert (tmp_path / "k2" / "text").read_text() == "quiet\n"   # empty label: id only


def tone(freqs, seconds, sr):
    """A 0.5-amplitude sine per channel (freqs in Hz), ``[frames, channels]``."""
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in freqs], axis=1)


@pytest.mark.parametrize("rate", [16000, 8000])
def test_kaldi_writes_one_sample_rate(tmp_path, rate):
    """Files at another rate are resampled into 16-bit WAV at ``rate``; the written samples are
    the source's tones at the new rate."""
    d = tmp_path / "src"
    d.mkdir()
    sources = {"narrow": ((440,), 8000), "wide": ((440, 1000), 44100), "base": ((700,), 16000)}
    for name, (freqs, sr) in sources.items():
        sf.write(d / f"{name}.wav", tone(freqs, 3.0, sr), sr, subtype="PCM_16")
    recs = [Record(id="narrow", audio=str(d / "narrow.wav"), duration=3.0),
            Record(id="wide-slice", audio=str(d / "wide.wav"), offset=0.5, duration=2.0),
            Record(id="base", audio=str(d / "base.wav"), duration=3.0)]
    out = tmp_path / "kaldi"
    assert export(recs, "kaldi", out, Problems(), sample_rate=rate) == 3
    scp = dict(line.split(" ", 1) for line in (out / "wav.scp").read_text().splitlines())
    for r in recs:
        freqs, src_sr = sources[r.id.split("-")[0]]
        info = sf.info(scp[r.id])          # no slice of a file at the rate: keyed by utterance
        assert info.samplerate == rate
        if src_sr == rate:                  # at the rate already: the file as it is
            assert scp[r.id] == r.audio
            continue
        assert scp[r.id] == str(out / "audio" / f"{r.id}.wav") and info.subtype == "PCM_16"
        data, _ = sf.read(scp[r.id], dtype="float64", always_2d=True)
        assert data.shape == (round(r.duration * rate), len(freqs))
        want = tone(freqs, r.offset + r.duration, rate)[round(r.offset * rate):]
        # Away from the slice's edges (where the resampler's filter sees the cut), the samples
        # are the tone: soxr's HQ passband ripple (at most 0.01 dB, 5.8e-4 of the 0.5
        # amplitude) plus 16-bit rounding of the source and the output (3 LSB, 9e-5).
        edge = rate // 20
        np.testing.assert_allclose(data[edge:-edge], want[edge:-edge], atol=1e-3)


def test_kaldi_sets_aside_ids_with_whitespace(tmp_path, records):
    bad = [Record(id="has space", audio=records[2].audio, duration=1.0),
           Record(id="tab\tid", audio=records[2].audio, duration=1.0),
           Record(id="nl\nid", audio=records[2].audio, duration=1.0),
           Record(id="spk-nl", audio=records[2].audio, duration=1.0, speaker="s\n1")]
    problems = Problems()
    assert export(records + bad, "kaldi", tmp_path / "k", problems) == 4
    assert [p.id for p in problems] == [r.id for r in bad]
    assert all("whitespace, which Kaldi ids cannot hold" in p.reason for p in problems)
    assert "'nl\\nid'" in problems.items[2].reason     # shown escaped: the report stays one line
    assert len((tmp_path / "k" / "text").read_text().splitlines()) == 4


def test_kaldi_sets_aside_paths_kaldi_would_misread(tmp_path, records):
    d = tmp_path / "odd"
    d.mkdir()
    names = {"line": "line\nbreak.wav", "cr": "cr\rbreak.wav", "trail": "trail.wav ",
             "pipe": "cmd.wav|", "ark": "feats.ark:12", "space": "has space.wav"}
    for name in names.values():
        shutil.copy(records[2].audio, d / name)
    odd = [Record(id=k, audio=str(d / v), duration=records[2].duration, text="好")
           for k, v in names.items()]
    problems = Problems()
    out = tmp_path / "k"
    assert export(records + odd, "kaldi", out, problems, sample_rate=8000) == 5
    reasons = {p.id: p.reason for p in problems}
    assert sorted(reasons) == ["ark", "cr", "line", "pipe", "trail"]
    assert "holds a line break" in reasons["line"] and "holds a line break" in reasons["cr"]
    assert "whitespace" in reasons["trail"] and "shell command" in reasons["pipe"]
    assert "archive offset" in reasons["ark"]
    assert "\n" not in problems.items[0].source    # the path is shown with \n escaped
    # what was kept is whole: one wav.scp line per file (at 8 kHz the 16 kHz drive slices are
    # written as files of their own), and the odd name that Kaldi reads is kept
    assert len((out / "wav.scp").read_text().splitlines()) == 5
    got = reimport(out, "kaldi")
    assert got["space"].audio == str(d / "has space.wav") and len(got) == 5


def test_kaldi_sets_aside_repeated_ids(tmp_path, records):
    problems = Problems()
    assert export(records + records[2:3], "kaldi", tmp_path / "k", problems) == 4
    assert [(p.id, p.reason) for p in problems] == [("call", "duplicate id")]


@pytest.mark.parametrize("fmt", ["nemo", "wenet", "lhotse"])
def test_json_lines_hold_line_breaks_in_fields(tmp_path, records, fmt):
    """Ids, texts and paths holding \\n, \\r, U+2028 or U+0085 stay on their record's line
    (for str.splitlines too) and read back exactly."""
    d = tmp_path / "odd"
    d.mkdir()
    path = d / "two\nlines.wav"
    shutil.copy(records[2].audio, path)
    odd = Record(id="id\nwith\rbreaks", audio=str(path), duration=records[2].duration,
                 text="第一行\n第二行\u2028第三行\x85完", speaker="s\u20291")
    out = tmp_path / ("cuts.jsonl" if fmt == "lhotse" else "out.jsonl")
    assert export(records + [odd], fmt, out, Problems()) == 5
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    if fmt == "lhotse":
        lhotse = pytest.importorskip("lhotse")
        cut = {c.id: c for c in lhotse.CutSet.from_jsonl(out)}[odd.id]
        assert (cut.supervisions[0].text, cut.supervisions[0].speaker) == (odd.text, odd.speaker)
        assert cut.recording.sources[0].source == str(path)
    else:
        got = reimport(out, fmt)
        assert_same(got, records + [odd], ("audio", "text", "speaker"))
def native_slice(r: Record) -> np.ndarray:
    """The record's samples at the file's own rate, channels first."""
    info = sf.info(r.audio)
    start = round(r.offset * info.samplerate)
    stop = start + round(r.duration * info.samplerate)
    return sf.read(r.audio, start=start, stop=stop, dtype="float32", always_2d=True)[0].T


@pytest.mark.parametrize("name", ["cuts.jsonl", "cuts.jsonl.gz"])
def test_lhotse_cuts_load_in_lhotse(tmp_path, records, name):
    lhotse = pytest.importorskip("lhotse")
    out = tmp_path / name
    assert export(records, "lhotse", out, Problems()) == 4
    cuts = {c.id: c for c in lhotse.CutSet.from_jsonl(out)}
    assert list(cuts) == [r.id for r in records]
    for r in records:
        c = cuts[r.id]
        assert c.start == pytest.approx(r.offset) and c.duration == pytest.approx(r.duration, 1e-4)
        audio = c.load_audio()
        want = native_slice(r)
        n = min(audio.shape[1], want.shape[1])
        assert abs(audio.shape[1] - want.shape[1]) <= 1
        np.testing.assert_allclose(audio[:, :n], want[:, :n], atol=1e-4)
    assert type(cuts["cabin"]).__name__ == "MultiCut" and cuts["cabin"].num_channels == 2
    assert type(cuts["call"]).__name__ == "MonoCut" and cuts["call"].sampling_rate == 8000
    assert [(s.text, s.start, s.duration) for s in cuts["drive-2"].supervisions] == [
        ("打开空调", 0.5, 2.5), ("调到二十度", 3.5, 4.0)]
    (sup,) = cuts["drive-1"].supervisions
    assert (sup.text, sup.speaker, sup.duration) == ("导航到 人民广场", "spk1", 3.25)
    assert cuts["drive-1"].custom == {"hyp": "导航到人民广场", "tags": ["fuzzy"]}
    assert cuts["cabin"].to_mono(mono_downmix=True).load_audio().shape[0] == 1


def at_rate(r: Record, rate: int) -> np.ndarray:
    """The record's samples resampled to ``rate``, channels first, as the exporter resamples."""
    native, sr = native_slice(r), sf.info(r.audio).samplerate
    return native if sr == rate else soxr.resample(native.T, sr, rate, quality="HQ").T


def _torchcodec_or_skip() -> None:
    """datasets decodes Audio through torchcodec, which loads FFmpeg's shared libraries at import.
    Without them (a bare machine) the test cannot run; .ci/run installs them, so CI never skips."""
    try:
        import torchcodec.decoders  # noqa: F401
    except (ImportError, OSError, RuntimeError) as e:
        pytest.skip(f"torchcodec cannot load FFmpeg's shared libraries ({type(e).__name__}); "
                    "apt-get install libavcodec59 libavformat59 libavutil57 libavdevice59 "
                    "libavfilter8 libswresample4 libswscale6")


@pytest.mark.parametrize("rate", [16000, 22050])
def test_hf_loads_as_users_load_it(tmp_path, records, rate):
    """load_from_disk, then ds[i]["audio"]: every row decodes (through torchcodec, as datasets
    does) to the record's samples at the export rate."""
    datasets = pytest.importorskip("datasets")
    _torchcodec_or_skip()
    drive = records[0].audio
    whole = Record(id="drive", audio=drive, duration=sf.info(drive).duration, text="开窗")
    recs = records + [whole]
    out = tmp_path / "hf"
    assert export(recs, "hf", out, Problems(), sample_rate=rate) == 5
    ds = datasets.load_from_disk(str(out))
    assert ds.features["audio"] == datasets.Audio(sampling_rate=rate)
    assert ds["id"] == [r.id for r in recs] and ds["text"][0] == "导航到 人民广场"
    assert ds["hyp"][:2] == ["导航到人民广场", None]
    for i, r in enumerate(recs):
        audio = ds[i]["audio"]
        want = at_rate(r, rate).mean(axis=0)     # datasets' "array" mixes channels down
        assert audio["sampling_rate"] == rate
        assert audio["array"].shape == want.shape
        # 16-bit sources stay 16-bit: rounding the resampled samples to 16 bits (libsndfile
        # scales by 32767, reads back by 1/32768) moves each by at most 1.5 LSB
        np.testing.assert_allclose(audio["array"], want, atol=2 / 32768)
    raw = ds.cast_column("audio", datasets.Audio(decode=False))
    # a whole file at the export rate travels unchanged (FLAC stays FLAC); the rest is WAV
    assert (raw[4]["audio"]["bytes"] == Path(drive).read_bytes()) == (rate == 16000)
    assert raw[2]["audio"]["bytes"][:4] == b"RIFF"
    assert sf.info(io.BytesIO(raw[3]["audio"]["bytes"])).channels == 2   # stereo kept


def test_hf_needs_datasets(tmp_path, records, monkeypatch):
    import sys

    from manifests.exporters.hf import MissingDependency
    monkeypatch.setitem(sys.modules, "datasets", None)     # makes `import datasets` fail
    with pytest.raises(MissingDependency, match="pip install 'curate\\[hf\\]'"):
        export(records, "hf", tmp_path / "hf", Problems())
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize("fmt", ["nemo", "wenet", "kaldi", "lhotse", "hf"])
def test_missing_audio_and_overlong_slices_are_set_aside(tmp_path, records, fmt):
    if fmt == "hf":
        pytest.importorskip("datasets")
    bad = [Record(id="gone", audio=str(tmp_path / "gone.wav"), duration=1.0),
           Record(id="overlong", audio=records[2].audio, offset=1.0, duration=30.0)]
    problems = Problems()
    assert export(records[:1] + bad, fmt, tmp_path / "out", problems) == 1
    reasons = {p.id: p.reason for p in problems}
    assert "audio file not found" in reasons["gone"]
    assert "past the end of the file" in reasons["overlong"]


@pytest.mark.parametrize("fmt", ["nemo", "kaldi"])
def test_nothing_half_written(tmp_path, records, fmt):
    out = tmp_path / "out"
    export(records, fmt, out, Problems())
    before = sorted(p.name for p in tmp_path.iterdir())

    def crashing():
        yield records[0]
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        export(crashing(), fmt, out, Problems())
    # the previous output is intact and no temp file is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert len(reimport(out, fmt)) == 4
    with pytest.raises(NothingToExport):
        export([Record(id="gone", audio=str(tmp_path / "no.wav"), duration=1.0)], fmt,
               tmp_path / "empty_out", Problems())
    assert not (tmp_path / "empty_out").exists()


@pytest.mark.skipif(not DEMO.is_file(), reason="demo corpus not generated")
@pytest.mark.parametrize("fmt", ["nemo", "wenet", "kaldi"])
def test_demo_corpus_round_trips(tmp_path, fmt):
    demo = list(read_manifest(DEMO))
    out = tmp_path / ("kaldi" if fmt == "kaldi" else "out.jsonl")
    assert export(demo, fmt, out, Problems()) == len(demo)
    got = reimport(out, fmt)
    if fmt != "kaldi":
        assert_same(got, demo, ("audio", "text", "sample_rate", "channels"))
        return
    # Kaldi: one rate; the demo's 8 kHz and 44.1 kHz files are written at 16 kHz
    want = sorted(demo, key=lambda r: r.id)
    assert_same(got, want, ("text", "channels"))
    moved = [r.id for r in want if r.sample_rate != 16000]
    assert moved and all(got[i].audio == str(out / "audio" / f"{i}.wav") for i in moved)
    assert all(got[r.id].audio == r.audio for r in want if r.sample_rate == 16000)
    assert {r.sample_rate for r in got.values()} == {16000}
