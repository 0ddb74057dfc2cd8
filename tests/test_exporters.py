"""Exporters on real audio: each format written and read back (by curate's importer, by lhotse,
by datasets), slices and stereo included; bad records set aside; nothing half-written."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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
    assert segments[0].split() == ["cabin", "cabin", "0.0000", f"{records[3].duration:.4f}"]
    wav_scp = (out / "wav.scp").read_text().splitlines()
    assert len(wav_scp) == 3                # one line per audio file
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "segments"):
        lines = (out / name).read_text().splitlines()
        assert lines == sorted(lines, key=lambda s: s.encode())
    assert "spk1 drive-1 drive-2" in (out / "spk2utt").read_text()
    got = reimport(out, "kaldi")
    assert_same(got, sorted(records, key=lambda r: r.id))


def test_kaldi_without_slices_has_no_segments_file(tmp_path, records):
    whole = records[2:]
    out = tmp_path / "kaldi"
    export(whole, "kaldi", out, Problems())
    assert not (out / "segments").exists()
    assert (out / "wav.scp").read_text().split() == ["cabin", whole[1].audio,
                                                     "call", whole[0].audio]
    assert (out / "text").read_text() == "cabin\ncall 给妈妈打电话\n"   # empty label: id only
    assert_same(reimport(out, "kaldi"), sorted(whole, key=lambda r: r.id))


def test_kaldi_sets_aside_ids_with_whitespace(tmp_path, records):
    bad = Record(id="has space", audio=records[2].audio, duration=1.0)
    problems = Problems()
    assert export(records + [bad], "kaldi", tmp_path / "k", problems) == 4
    assert [p.id for p in problems] == ["has space"] and "whitespace" in problems.items[0].reason


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


def test_hf_dataset_embeds_whole_files_and_slices(tmp_path, records):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    assert export(records, "hf", out, Problems()) == 4
    ds = datasets.load_from_disk(str(out))
    assert isinstance(ds.features["audio"], datasets.Audio)
    assert ds["id"] == [r.id for r in records] and ds["text"][0] == "导航到 人民广场"
    assert ds["hyp"][:2] == ["导航到人民广场", None]
    raw = ds.cast_column("audio", datasets.Audio(decode=False))
    for row, r in zip(raw, records):
        data, sr = sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32", always_2d=True)
        assert sr == sf.info(r.audio).samplerate
        np.testing.assert_allclose(data.T, native_slice(r), atol=1e-4)
    # a whole file travels unchanged (FLAC stays FLAC); a slice is stored as WAV
    assert raw[2]["audio"]["bytes"] == Path(records[2].audio).read_bytes()
    assert raw[0]["audio"]["bytes"][:4] == b"RIFF"


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
    want = sorted(demo, key=lambda r: r.id) if fmt == "kaldi" else demo
    assert_same(got, want, ("audio", "text", "sample_rate", "channels"))
