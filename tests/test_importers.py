"""Importers on real audio files: Kaldi dirs (with and without segments), WeNet data.list, a folder
with a name<TAB>text file, NeMo manifests; format detection; Base1 hyp files; every bad input."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from manifests import Problems
from manifests.importers import SourceError, detect, read_source, resolve_format
from tests.audio_gen import speechlike, write


def problems_of(problems):
    """(file name, line, id, reason) tuples, for matching."""
    return [(os.path.basename(p.source), p.line, p.id, p.reason) for p in problems]


def has(problems, name, line, rid, fragment):
    return any(n == name and ln == line and i == rid and fragment in r
               for n, ln, i, r in problems_of(problems))


def read(path, fmt, hyp=None):
    problems = Problems()
    records = list(read_source(path, fmt, problems, hyp))
    return {r.id: r for r in records}, problems


@pytest.fixture
def audio(tmp_path):
    """Real audio files: 16 kHz FLAC (13 s), 8 kHz WAV (3 s), 44.1 kHz stereo WAV (2 s)."""
    d = tmp_path / "wav"
    d.mkdir()
    long = write(d / "long.flac", speechlike(12, seed=1))
    narrow = write(d / "narrow.wav", speechlike(2, seed=2, sr=8000), sr=8000)
    stereo = str(d / "stereo.wav")
    sf.write(stereo, np.stack([speechlike(1, seed=3, sr=44100), speechlike(1, seed=4, sr=44100)],
                              axis=1), 44100)
    return {"long": long, "narrow": narrow, "stereo": stereo}


def kaldi_dir(root, files: dict[str, str]):
    d = root / "data" / "train"
    d.mkdir(parents=True)
    for name, content in files.items():
        (d / name).write_text(content, encoding="utf-8")
    return d


# --- Kaldi ---

def test_kaldi_without_segments_reads_header_facts(tmp_path, audio):
    d = kaldi_dir(tmp_path, {
        "wav.scp": f"utt1 {audio['long']}\nutt2 {audio['narrow']}\nutt3 {audio['stereo']}\n",
        "text": "utt1 导航到 公司\nutt2 打开空调\nutt3\n",
        "utt2spk": "utt1 spkA\nutt2 spkB\nutt3 spkA\n"})
    records, problems = read(d, "kaldi")
    assert len(problems) == 0
    assert list(records) == ["utt1", "utt2", "utt3"]
    for rid, key in (("utt1", "long"), ("utt2", "narrow"), ("utt3", "stereo")):
        info = sf.info(audio[key])
        r = records[rid]
        assert r.audio == audio[key]
        assert r.offset == 0 and r.duration == pytest.approx(info.frames / info.samplerate)
        assert (r.sample_rate, r.channels) == (info.samplerate, info.channels)
    assert records["utt1"].text == "导航到 公司" and records["utt1"].speaker == "spkA"
    assert records["utt3"].text == "" and not records["utt3"].labelled
    assert records["utt2"].sample_rate == 8000 and records["utt3"].channels == 2


def test_kaldi_segments_make_slices(tmp_path, audio):
    d = kaldi_dir(tmp_path, {
        "wav.scp": f"recL {audio['long']}\nrecN {audio['narrow']}\nrecS {audio['stereo']}\n",
        "segments": "recL-a recL 0.5 4.25\nrecL-b recL 4.25 12.9\nrecN-a recN 1.0 -1\n",
        "text": "recL-a 第一句\nrecL-b 第二句\nrecN-a 第三句\n"})
    records, problems = read(d, "kaldi")
    assert len(problems) == 0
    # recS has no segment: not imported, as in Kaldi
    assert list(records) == ["recL-a", "recL-b", "recN-a"]
    assert (records["recL-a"].offset, records["recL-a"].duration) == (0.5, pytest.approx(3.75))
    assert records["recL-b"].duration == pytest.approx(8.65)
    assert records["recN-a"].offset == 1.0
    assert records["recN-a"].duration == pytest.approx(sf.info(audio["narrow"]).duration - 1.0)
    assert records["recL-b"].text == "第二句" and records["recL-b"].sample_rate == 16000


def test_kaldi_relative_paths_resolve_from_recipe_root(tmp_path, audio):
    # Kaldi recipes write paths relative to the recipe root, two levels above data/train.
    d = kaldi_dir(tmp_path, {"wav.scp": "u1 wav/long.flac\n", "text": "u1 你好\n"})
    records, problems = read(d, "kaldi")
    assert len(problems) == 0 and records["u1"].audio == audio["long"]


def test_kaldi_bad_inputs_are_set_aside_with_file_line_and_id(tmp_path, audio):
    wav = tmp_path / "wav"
    (wav / "empty.wav").write_bytes(b"")
    (wav / "garbage.wav").write_bytes(os.urandom(2000))
    d = kaldi_dir(tmp_path, {
        "wav.scp": (f"recL {audio['long']}\n"                       # 1
                    "recP sox in.wav -t wav - |\n"                  # 2 pipe
                    f"recM {wav / 'missing.wav'}\n"                 # 3 missing
                    f"recE {wav / 'empty.wav'}\n"                   # 4 zero-length
                    f"recG {wav / 'garbage.wav'}\n"                 # 5 unreadable
                    f"recL {audio['narrow']}\n"                     # 6 duplicate id
                    f"recN {audio['narrow']}\n"),                   # 7
        "segments": ("a recL 0 2\n"          # 1 good
                     "b recL 2 20\n"         # 2 past the end (13 s file)
                     "c recP 0 1\n"          # 3 on the pipe entry
                     "d recM 0 1\n"          # 4 on the missing file
                     "e recE 0 1\n"          # 5 on the empty file
                     "f recG 0 1\n"          # 6 on the unreadable file
                     "a recL 3 4\n"          # 7 duplicate utterance id
                     "g recN 1\n"            # 8 malformed
                     "h recX 0 1\n"          # 9 unknown recording
                     "i recN 0 1\n"          # 10 good, but its label is GBK
                     "j recN 2 1\n")})       # 11 end before start
    (d / "text").write_bytes("a 你好\n".encode() + "i 播放音乐\n".encode("gbk")
                             + "zz 多余的\n".encode())
    records, problems = read(d, "kaldi")
    assert list(records) == ["a"]
    expect = [("wav.scp", 2, "recP", "pipe commands are not supported"),
              ("wav.scp", 3, "recM", "audio file not found"),
              ("wav.scp", 4, "recE", "zero-length"),
              ("wav.scp", 5, "recG", "corrupt or unsupported audio file"),
              ("wav.scp", 6, "recL", "duplicate id (first on line 1)"),
              ("segments", 2, "b", "past the end of the file"),
              ("segments", 3, "c", "pipe commands are not supported (see wav.scp:2)"),
              ("segments", 4, "d", "audio file not found (see wav.scp:3)"),
              ("segments", 5, "e", "zero-length"),
              ("segments", 6, "f", "corrupt or unsupported audio file (see wav.scp:5)"),
              ("segments", 7, "a", "duplicate id (first on line 1)"),
              ("segments", 8, "g", "expected 'utterance-id recording-id start end'"),
              ("segments", 9, "h", "'recX' cannot be used: it is not in wav.scp"),
              ("segments", 11, "j", "not after its start"),
              ("text", 2, "i", "not UTF-8"),
              ("text", 3, "zz", "no utterance with this id in segments")]
    for e in expect:
        assert has(problems, *e), (e, problems_of(problems))
    assert len(problems) == len(expect)


def test_kaldi_source_errors(tmp_path):
    with pytest.raises(SourceError, match="no wav.scp"):
        list(read_source(tmp_path, "kaldi", Problems()))
    d = kaldi_dir(tmp_path, {"wav.scp": ""})
    records, problems = read(d, "kaldi")
    assert not records and has(problems, "wav.scp", None, None, "empty file")


# --- WeNet data.list ---

def test_wenet_list_with_slices_relative_paths_and_extra_fields(tmp_path, audio):
    lst = tmp_path / "data.list"
    lines = [{"key": "w1", "wav": "wav/long.flac", "txt": "导航去机场", "spk": "s9", "batch": "b2",
              "emotion": "calm"},
             {"key": "w2", "wav": audio["long"], "txt": "打开车窗", "start": 2.0, "end": 5.5},
             {"key": "w3", "wav": audio["stereo"]}]
    lst.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    records, problems = read(tmp_path, "wenet")   # the folder holding data.list
    assert len(problems) == 0
    w1, w2, w3 = records["w1"], records["w2"], records["w3"]
    assert w1.audio == audio["long"] and w1.duration == pytest.approx(13.0)
    assert (w1.speaker, w1.batch, w1.extra) == ("s9", "b2", {"emotion": "calm"})
    assert (w2.offset, w2.duration, w2.text) == (2.0, pytest.approx(3.5), "打开车窗")
    assert w3.text == "" and w3.channels == 2 and w3.sample_rate == 44100


def test_wenet_bad_lines(tmp_path, audio):
    lst = tmp_path / "train.list"
    good = {"key": "ok", "wav": audio["narrow"], "txt": "好"}
    lst.write_bytes(b"".join([
        (json.dumps(good, ensure_ascii=False) + "\n").encode(),                        # 1
        b"{not json\n",                                                                # 2
        b"[1, 2]\n",                                                                   # 3
        json.dumps({"wav": audio["narrow"]}).encode() + b"\n",                         # 4
        json.dumps({"key": "gone", "wav": "nope.wav", "txt": "x"}).encode() + b"\n",  # 5
        (json.dumps(good, ensure_ascii=False) + "\n").encode(),                        # 6 dup
        '{"key": "gbk", "wav": "x.wav", "txt": "'.encode() + "你好".encode("gbk") + b'"}\n',  # 7
        json.dumps({"key": "far", "wav": audio["narrow"], "start": 1, "end": 9}).encode() + b"\n",
        json.dumps({"key": "neg", "wav": audio["narrow"], "start": "a"}).encode() + b"\n",
    ]))
    records, problems = read(lst, "wenet")
    assert list(records) == ["ok"]
    for e in [("train.list", 2, None, "not valid JSON"),
              ("train.list", 3, None, "not a JSON object"),
              ("train.list", 4, None, "missing or empty string field 'key'"),
              ("train.list", 5, "gone", "audio file not found"),
              ("train.list", 6, "ok", "duplicate id (first on line 1)"),
              ("train.list", 7, None, "not UTF-8"),
              ("train.list", 8, "far", "past the end of the file"),
              ("train.list", 9, "neg", "'start' must be a number")]:
        assert has(problems, *e), (e, problems_of(problems))
    assert len(problems) == 8


# --- folder + name<TAB>text ---

def test_tsv_folder_matches_names_to_audio_recursively(tmp_path):
    root = tmp_path / "batch1"
    (root / "day1").mkdir(parents=True)
    (root / "day2").mkdir()
    write(root / "day1" / "a.flac", speechlike(1.5, seed=5))
    write(root / "day2" / "b.wav", speechlike(2.0, seed=6, sr=8000), sr=8000)
    write(root / "day1" / "dup.wav", speechlike(1.0, seed=7))
    write(root / "day2" / "dup.wav", speechlike(1.0, seed=8))
    write(root / "day2" / "unlisted.wav", speechlike(1.0, seed=9))
    (root / "labels.tsv").write_bytes("\n".join([
        "a\t导航到 人民广场",         # 1 stem; text with a space
        "b.wav\t",                   # 2 with extension, empty label
        "day1/dup\t第一",            # 3 relative path picks one of two
        "dup\t第二",                 # 4 ambiguous stem
        "ghost\t没有音频",           # 5 no such file
        "no tab here",               # 6
        "a\t重复",                   # 7 duplicate
    ]).encode() + "\nc\t".encode() + "打开".encode("gbk") + b"\n")   # 8 non-UTF-8
    records, problems = read(root, "tsv")
    assert list(records) == ["a", "b.wav", "day1/dup"]
    assert records["a"].text == "导航到 人民广场"
    assert records["a"].audio == str(root / "day1/a.flac")
    assert records["b.wav"].sample_rate == 8000 and not records["b.wav"].labelled
    assert records["day1/dup"].audio == str(root / "day1/dup.wav")
    for e in [("labels.tsv", None, "dup", "matches several audio files"),
              ("labels.tsv", None, "ghost", "no audio file named 'ghost'"),
              ("labels.tsv", 6, "no tab here", "no tab"),
              ("labels.tsv", 7, "a", "duplicate id"),
              ("labels.tsv", 8, None, "not UTF-8"),
              ("unlisted.wav", None, None, "not named in labels.tsv")]:
        assert has(problems, *e), (e, problems_of(problems))
    assert len(problems) == 6


def test_tsv_folder_needs_one_label_file(tmp_path):
    write(tmp_path / "a.wav", speechlike(1.0))
    with pytest.raises(SourceError, match="no name<TAB>text label file"):
        list(read_source(tmp_path, "tsv", Problems()))
    (tmp_path / "labels.tsv").write_text("a\t你好\n")
    (tmp_path / "base1.tsv").write_text("a\t你号\n")
    with pytest.raises(SourceError, match="several name<TAB>text files"):
        list(read_source(tmp_path, "tsv", Problems()))
    records, problems = read(tmp_path / "labels.tsv", "tsv")
    assert records["a"].text == "你好" and len(problems) == 0


# --- NeMo ---

def test_nemo_manifest_ids_offsets_and_durations(tmp_path, audio):
    m = tmp_path / "train_manifest.json"
    lines = [{"audio_filepath": "wav/narrow.wav", "duration": 3.0, "text": "调高温度"},
             {"audio_filepath": "wav/long.flac", "offset": 1.5, "duration": 2.0, "text": "一"},
             {"audio_filepath": audio["long"], "text": "整段"},
             {"audio_filepath": audio["stereo"], "duration": 2.0, "text": "你好", "id": "mine",
              "hyp": "你号", "lang": "zh"}]
    m.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    records, problems = read(m, "nemo")
    assert len(problems) == 0
    assert list(records) == ["wav/narrow", "wav/long_0001500_0003500", "wav/long", "mine"]
    assert records["wav/long"].duration == pytest.approx(13.0)      # no duration: whole file
    assert records["wav/long_0001500_0003500"].offset == 1.5
    assert (records["mine"].hyp, records["mine"].extra) == ("你号", {"lang": "zh"})


def test_nemo_bad_lines(tmp_path, audio):
    m = tmp_path / "m.jsonl"
    m.write_text("\n".join([
        json.dumps({"audio_filepath": audio["narrow"], "duration": 1.0, "text": "好"}),
        "not json at all",
        json.dumps({"duration": 1.0, "text": "no path"}),
        json.dumps({"audio_filepath": audio["narrow"], "duration": 1.0, "text": "again"}),
        json.dumps({"audio_filepath": audio["narrow"], "offset": 5.0, "duration": 1.0}),
        json.dumps({"audio_filepath": audio["narrow"], "duration": "long"}),
    ]) + "\n")
    records, problems = read(m, "nemo")
    assert list(records) == ["wav/narrow_0000000_0001000"]
    for e in [("m.jsonl", 2, None, "not valid JSON"),
              ("m.jsonl", 3, None, "'audio_filepath'"),
              ("m.jsonl", 4, "wav/narrow_0000000_0001000", "duplicate id"),
              ("m.jsonl", 5, None, "past the end of the file"),
              ("m.jsonl", 6, None, "'duration' must be a number")]:
        assert has(problems, *e), (e, problems_of(problems))


# --- empty inputs, detection, hyp ---

@pytest.mark.parametrize("fmt,name", [("kaldi", "wav.scp"), ("wenet", "data.list"),
                                      ("nemo", "m.json"), ("tsv", "labels.tsv")])
def test_empty_input_yields_nothing_and_says_so(tmp_path, fmt, name):
    (tmp_path / name).write_text("\n\n")
    records, problems = read(tmp_path / name if fmt != "kaldi" else tmp_path, fmt)
    assert not records
    assert any("empty file" in p.reason for p in problems)


def test_detect_each_format(tmp_path, audio):
    kaldi = kaldi_dir(tmp_path, {"wav.scp": f"u {audio['long']}\n"})
    assert detect(kaldi) == "kaldi" and detect(kaldi / "wav.scp") == "kaldi"
    wenet = tmp_path / "w.list"
    wenet.write_text(json.dumps({"key": "k", "wav": audio["long"], "txt": ""}) + "\n")
    assert detect(wenet) == "wenet"
    nemo = tmp_path / "n.json"
    nemo.write_text(json.dumps({"audio_filepath": audio["long"], "duration": 1}) + "\n")
    assert detect(nemo) == "nemo"
    (tmp_path / "wav" / "labels.txt").write_text("long\t你好\n")
    assert detect(tmp_path / "wav") == "tsv"
    assert resolve_format(tmp_path / "wav", "auto") == "tsv"


def test_detect_ambiguous_and_unknown(tmp_path, audio):
    d = kaldi_dir(tmp_path, {"wav.scp": f"u {audio['long']}\n"})
    (d / "data.list").write_text(json.dumps({"key": "u", "wav": audio["long"]}) + "\n")
    with pytest.raises(SourceError) as e:
        detect(d)
    assert "kaldi (has wav.scp)" in str(e.value) and "wenet (has data.list)" in str(e.value)
    assert "--format" in str(e.value)
    assert resolve_format(d, "wenet") == "wenet"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="cannot tell the format"):
        detect(empty)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({"id": "a", "audio": "a.wav", "duration": 1.0}) + "\n")
    with pytest.raises(SourceError, match="curate manifest already"):
        detect(manifest)
    with pytest.raises(SourceError, match="does not exist"):
        resolve_format(tmp_path / "nowhere")


def test_hyp_file_is_attached_and_unmatched_names_reported(tmp_path, audio):
    d = kaldi_dir(tmp_path, {"wav.scp": f"u1 {audio['long']}\nu2 {audio['narrow']}\n",
                             "text": "u1 打开空调\nu2 关闭车窗\n"})
    hyp = tmp_path / "base1.tsv"
    hyp.write_text("u1\t打开空掉\nu9\t多余\nbroken line\n")
    records, problems = read(d, "kaldi", hyp)
    assert records["u1"].hyp == "打开空掉" and records["u2"].hyp is None
    assert has(problems, "base1.tsv", None, "u9", "matches no record")
    assert has(problems, "base1.tsv", 3, "broken line", "no tab")
    assert len(problems) == 2


def test_tsv_folder_keeps_unlabelled_audio_with_empty_labels_when_asked(tmp_path):
    from collections import Counter

    from manifests.importers import tsv_folder

    write(tmp_path / "a.wav", speechlike(1.0, seed=1))
    write(tmp_path / "x.wav", speechlike(1.0, seed=2))
    write(tmp_path / "x.flac", speechlike(1.0, seed=3))      # the same stem: ids keep extensions
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "y.wav", speechlike(1.0, seed=4))
    (tmp_path / "labels.tsv").write_text("a\t你好\n", encoding="utf-8")
    listing = tsv_folder.audio_listing(tmp_path)

    counts, problems = Counter(), Problems()
    kept = {r.id: r for r in tsv_folder.read(tmp_path, problems, "keep", counts)}
    assert set(kept) == {"a", "x.wav", "x.flac", "sub/y"} and counts["unlabelled"] == 3
    assert kept["sub/y"].text == "" and kept["sub/y"].audio == str(tmp_path / "sub" / "y.wav")
    assert len(problems) == 0

    counts, problems = Counter(), Problems()
    assert [r.id for r in tsv_folder.read(tmp_path, problems, "skip", counts)] == ["a"]
    assert counts["unlabelled"] == 3 and len(problems) == 3
    assert has(problems, "y.wav", None, None, "--unlabelled keep imports it")

    with pytest.raises(SourceError, match="unlabelled must be one of"):
        list(tsv_folder.read(tmp_path, Problems(), "maybe"))
    assert tsv_folder.audio_listing(tmp_path) == listing      # reading changes nothing
    (tmp_path / "x.flac").unlink()
    assert tsv_folder.audio_listing(tmp_path) != listing
