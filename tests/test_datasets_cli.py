"""`curate datasets add/list/show/remove` and `curate export` through the real CLI app, in a
temporary workspace (never the repo's)."""
import json
import re

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.cli import app
from curate.registry import WORKSPACE_ENV, demo_manifest
from manifests import read_manifest
from tests.audio_gen import speechlike, write

runner = CliRunner()


def curate(*args):
    # wide terminal: problem lines are asserted on whole, so rich must not wrap them
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def row(output: str, label: str) -> str:
    """The rest of the table row that starts with ``label``."""
    m = re.search(rf"{re.escape(label)}\s*[│ ]\s*(.+?)\s*[│\n]", output)
    assert m, f"no row {label!r} in:\n{output}"
    return m.group(1).strip()


# Segment durations (s) of the w5 corpus: two under 1 s, one over 30 s, the rest in between.
W5_SEGMENTS = [("nav-1", "rec16k", 0.5, 4.5), ("nav-2", "rec16k", 4.5, 11.0),
               ("nav-3", "rec16k", 11.0, 25.5), ("talk-1", "rec16k", 25.5, 61.0),
               ("call-1", "rec8k", 0.2, 0.9), ("call-2", "rec8k", 1.0, -1),
               ("cabin-1", "rec44k", 0.0, 0.6), ("cabin-2", "rec44k", 1.0, 6.0)]


@pytest.fixture
def w5(tmp_path):
    """A Kaldi data dir with segments over 16 kHz, 8 kHz and 44.1 kHz stereo recordings."""
    d = tmp_path / "corpora" / "w5"
    d.mkdir(parents=True)
    # a 10 s speech-like block repeated: a minute of audio without a minute of synthesis
    write(d / "rec16k.flac", np.tile(speechlike(9, seed=1), 7))          # 70 s
    write(d / "rec8k.wav", speechlike(11, seed=2, sr=8000), sr=8000)     # 12 s
    sf.write(d / "rec44k.wav", np.stack([speechlike(5, seed=3, sr=44100)] * 2, axis=1), 44100)
    (d / "wav.scp").write_text("rec16k rec16k.flac\nrec8k rec8k.wav\nrec44k rec44k.wav\n")
    (d / "segments").write_text("".join(f"{u} {r} {s} {e}\n" for u, r, s, e in W5_SEGMENTS))
    (d / "text").write_text("nav-1 导航到公司\nnav-2 避开拥堵\nnav-3 附近的加油站\n"
                            "talk-1 今天 路上 车 很多\ncall-1 好\ncall-2 给妈妈打电话\n"
                            "cabin-1\ncabin-2 把空调调到二十二度\n")
    (d / "utt2spk").write_text("nav-1 s1\nnav-2 s1\nnav-3 s1\ntalk-1 s2\ncall-1 s3\ncall-2 s3\n"
                               "cabin-1 s4\ncabin-2 s4\n")
    (tmp_path / "base1.tsv").write_text("nav-1\t导航到公司\nnav-2\t避开拥度\ncall-2\t给妈妈打店话\n"
                                        "typo-9\t多余的\n")
    return d


def w5_seconds():
    ends = {"call-2": 12.0}
    return sum(ends.get(u, e) - s for u, _, s, e in W5_SEGMENTS)


def test_add_then_show_kaldi_with_segments(w5, workspace):
    result = curate("datasets", "add", "w5", w5, "--hyp", workspace / "base1.tsv")
    assert result.exit_code == 0, result.output
    hours = f"{w5_seconds() / 3600:.3f}"
    assert row(result.output, "records imported") == "8"
    assert row(result.output, "hours") == hours
    assert row(result.output, "with hyp") == "3 (37.5%)"
    # the hyp name that matches no record is reported, the import still succeeds
    assert "base1.tsv [typo-9]: hypothesis for a name that matches no record" in result.output
    assert "Registered w5" in result.output
    stored = json.loads((workspace / "curate-datasets.json").read_text())["datasets"]["w5"]
    assert stored == {"source": "corpora/w5", "format": "kaldi", "hyp": "base1.tsv"}

    show = curate("datasets", "show", "w5")
    assert show.exit_code == 0, show.output
    out = show.output
    assert row(out, "records") == "8"
    assert row(out, "hours") == hours
    assert row(out, "labelled") == "7 (87.5%)"            # cabin-1 has an empty label
    assert row(out, "with hyp") == "3 (37.5%)"
    assert row(out, "speakers") == "4"
    assert row(out, "duration min / mean / max") == f"0.60 / {w5_seconds() / 8:.2f} / 35.50 s"
    histogram = {"0–1 s": "2", "1–2 s": "0", "2–5 s": "1", "5–10 s": "2", "10–20 s": "2",
                 "20–30 s": "0", "≥ 30 s": "1"}
    for label, count in histogram.items():
        assert row(out, label).split()[0] == count, label
    assert row(out, "16000 Hz") == "4 (50.0%)"
    assert row(out, "8000 Hz") == "2 (25.0%)"
    assert row(out, "44100 Hz") == "2 (25.0%)"
    assert row(out, "mono") == "6 (75.0%)"
    assert row(out, "stereo") == "2 (25.0%)"
    assert "corpora/w5 (kaldi), hyp base1.tsv" in out


def test_add_sets_bad_input_aside_and_lists_it(w5):
    (w5 / "empty.wav").write_bytes(b"")
    with open(w5 / "wav.scp", "a") as f:
        f.write("recP sox in.wav -t wav - |\nrecM missing.wav\nrecE empty.wav\nrec8k rec8k.wav\n")
    with open(w5 / "segments", "a") as f:
        f.write("p-1 recP 0 1\nm-1 recM 0 1\ne-1 recE 0 1\nnav-1 rec16k 0 1\nz-1 rec8k 3 40\n"
                "e-2 recE 1 2\n")
    with open(w5 / "text", "ab") as f:
        f.write("e-1 ".encode() + "你好".encode("gbk") + b"\n")
    result = curate("datasets", "add", "w5", w5)
    assert result.exit_code == 0, result.output
    assert row(result.output, "records imported") == "8"
    out = result.output
    for line in ["corpora/w5/wav.scp:4 [recP]: pipe commands are not supported",
                 "corpora/w5/wav.scp:5 [recM]: audio file not found",
                 "corpora/w5/wav.scp:6 [recE]: zero-length or empty audio file",
                 "corpora/w5/wav.scp:7 [rec8k]: duplicate id (first on line 2)",
                 "corpora/w5/segments:9 [p-1]: recording 'recP' cannot be used",
                 "corpora/w5/segments:12 [nav-1]: duplicate id (first on line 1)",
                 "corpora/w5/segments:13 [z-1]: segment ends at 40.000s, past the end",
                 "corpora/w5/segments:14 [e-2]: recording 'recE' cannot be used: zero-length",
                 "corpora/w5/text:9 [e-1]: not UTF-8"]:
        assert line in out, line
    assert row(out, "set aside") == "10"
    problems = (workspace_cache("w5") / "problems.txt").read_text().splitlines()
    assert len(problems) == 10


def workspace_cache(name):
    from curate.registry import Workspace
    return Workspace.current().cache(name)


@pytest.mark.parametrize("fmt", ["tsv", "wenet", "nemo"])
def test_bad_lines_in_other_formats_name_file_and_line(workspace, fmt):
    write(workspace / "a.wav", speechlike(1.5))
    src = {"tsv": workspace / "labels.tsv", "wenet": workspace / "data.list",
           "nemo": workspace / "train.json"}[fmt]
    good = {"tsv": "a\t你好",
            "wenet": json.dumps({"key": "a", "wav": "a.wav", "txt": "你好"}),
            "nemo": json.dumps({"audio_filepath": "a.wav", "text": "你好"})}[fmt]
    bad = "a line without a tab" if fmt == "tsv" else "{this is not json"
    src.write_text(f"{good}\n{bad}\n")
    result = curate("datasets", "add", "d", src)
    assert result.exit_code == 0, result.output
    assert row(result.output, "records imported") == "1"
    assert f"{src.name}:2" in result.output
    assert ("no tab" if fmt == "tsv" else "not valid JSON") in result.output


def test_nothing_usable_exits_non_zero_and_registers_nothing(w5, workspace):
    for f in ("rec16k.flac", "rec8k.wav", "rec44k.wav"):
        (w5 / f).unlink()
    result = curate("datasets", "add", "w5", w5)
    assert result.exit_code == 1
    assert "no usable record" in result.output and "audio file not found" in result.output
    assert not (workspace / "curate-datasets.json").exists()
    assert not (workspace / ".curate" / "datasets" / "w5").exists()


def test_empty_inputs(workspace):
    (workspace / "kdir").mkdir()
    (workspace / "kdir" / "wav.scp").write_text("")
    result = curate("datasets", "add", "k", workspace / "kdir")
    assert result.exit_code == 1 and "kdir/wav.scp: empty file" in result.output
    (workspace / "nothing").mkdir()
    result = curate("datasets", "add", "n", workspace / "nothing")
    assert result.exit_code == 2 and "cannot tell the format" in result.output
    result = curate("datasets", "add", "n", workspace / "no-such-dir")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_ambiguous_source_needs_format(w5):
    (w5 / "data.list").write_text(json.dumps({"key": "x", "wav": "rec8k.wav", "txt": "好"}) + "\n")
    result = curate("datasets", "add", "w5", w5)
    assert result.exit_code == 2
    assert "kaldi (has wav.scp)" in result.output and "wenet (has data.list)" in result.output
    assert "--format" in result.output
    result = curate("datasets", "add", "w5", w5, "--format", "wenet")
    assert result.exit_code == 0 and row(result.output, "records imported") == "1"


def test_list_replace_remove(w5, workspace):
    assert curate("datasets", "add", "w5", w5).exit_code == 0
    again = curate("datasets", "add", "w5", w5)
    assert again.exit_code == 2 and "already registered" in again.output
    assert curate("datasets", "add", "w5", w5, "--replace").exit_code == 0
    listing = curate("datasets", "list")
    assert listing.exit_code == 0
    assert re.search(r"w5\s+│ kaldi\s+│ corpora/w5\s+│\s+│\s+8 │\s+" + f"{w5_seconds() / 3600:.3f}",
                     listing.output), listing.output
    assert "demo" in listing.output
    assert curate("datasets", "add", "demo", w5).exit_code == 2
    assert curate("datasets", "remove", "demo").exit_code == 2
    removed = curate("datasets", "remove", "w5")
    assert removed.exit_code == 0 and not (workspace / ".curate" / "datasets" / "w5").exists()
    assert (w5 / "wav.scp").exists()
    gone = curate("datasets", "show", "w5")
    assert gone.exit_code == 2 and "unknown dataset 'w5'" in gone.output and "demo" in gone.output


def test_show_demo():
    manifest = demo_manifest()
    records = list(read_manifest(manifest))
    result = curate("datasets", "show", "demo")
    assert result.exit_code == 0, result.output
    assert row(result.output, "records") == str(len(records))
    assert row(result.output, "hours") == f"{sum(r.duration for r in records) / 3600:.3f}"
    labelled = sum(r.labelled for r in records)
    assert row(result.output, "labelled") == f"{labelled} ({100 * labelled / len(records):.1f}%)"


@pytest.mark.parametrize("fmt,out", [("nemo", "w5.json"), ("wenet", "data.list"),
                                     ("kaldi", "kaldi_w5"), ("lhotse", "cuts.jsonl.gz")])
def test_export_registered_dataset(w5, workspace, fmt, out):
    assert curate("datasets", "add", "w5", w5).exit_code == 0
    result = curate("export", "w5", "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    assert "Exported 8 records" in result.output and (workspace / out).exists()
    again = curate("export", "w5", "--format", fmt, "--out", out)
    assert again.exit_code == 2 and "--force" in again.output
    assert curate("export", "w5", "--format", fmt, "--out", out, "--force").exit_code == 0
    if fmt != "lhotse":   # lhotse output is checked by lhotse itself in test_exporters
        assert curate("datasets", "add", "back", workspace / out).exit_code == 0
        assert row(curate("datasets", "show", "back").output, "records") == "8"


def test_export_sets_aside_missing_audio_and_fails_when_nothing_left(workspace):
    write(workspace / "a.wav", speechlike(1.0))
    manifest = workspace / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "audio": "a.wav", "duration": 2.0}) + "\n"
                        + json.dumps({"id": "b", "audio": "b.wav", "duration": 1.0}) + "\n"
                        + "not json\n")
    result = curate("export", manifest, "--format", "wenet", "--out", "out.list")
    assert result.exit_code == 0, result.output
    assert "m.jsonl:3: not valid JSON" in result.output
    assert "b.wav [b]: audio file not found" in result.output
    assert "Exported 1 records" in result.output
    (workspace / "a.wav").unlink()
    result = curate("export", manifest, "--format", "nemo", "--out", "out.json")
    assert result.exit_code == 1 and "nothing was written" in result.output
    assert not (workspace / "out.json").exists()


def test_export_hf_without_datasets_is_a_clear_error(workspace, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "datasets", None)
    result = curate("export", "demo", "--format", "hf", "--out", "hf")
    assert result.exit_code == 2 and "pip install 'curate[hf]'" in result.output


def test_help_has_examples():
    assert "datasets" in curate("--help").output and "export" in curate("--help").output
    for args in (("datasets", "add"), ("datasets", "list"), ("datasets", "show"),
                 ("datasets", "remove"), ("export",)):
        result = curate(*args, "--help")
        assert result.exit_code == 0 and "Example: curate " in result.output, args


@pytest.fixture
def calls(workspace):
    """A folder of audio with a label file naming two of its three clips."""
    d = workspace / "corpora" / "calls"
    d.mkdir(parents=True)
    for i, name in enumerate(("a", "b", "c")):
        write(d / f"{name}.wav", speechlike(1.5, seed=i))
    (d / "labels.tsv").write_text("a\t导航到公司\nb\t打开空调\n", encoding="utf-8")
    return d


def test_tsv_unlabelled_audio_is_counted_skipped_by_default_or_kept(calls, workspace):
    skipped = curate("datasets", "add", "calls", calls, "--format", "tsv")
    assert skipped.exit_code == 0, skipped.output
    assert row(skipped.output, "records imported") == "2"
    assert row(skipped.output, "unlabelled audio").startswith("1 not imported")
    assert "c.wav: audio file not named in labels.tsv; not imported" in skipped.output
    stored = json.loads((workspace / "curate-datasets.json").read_text())["datasets"]["calls"]
    assert stored["unlabelled"] == "skip"

    kept = curate("datasets", "add", "calls", calls, "--format", "tsv", "--unlabelled", "keep",
                  "--replace")
    assert kept.exit_code == 0, kept.output
    assert row(kept.output, "records imported") == "3"
    assert row(kept.output, "unlabelled audio") == "1 imported with empty labels"
    records = {r.id: r for r in read_manifest(workspace_cache("calls") / "manifest.jsonl")}
    assert set(records) == {"a", "b", "c"} and records["c"].text == ""
    assert not records["c"].labelled and records["a"].labelled

    wrong = curate("datasets", "add", "w", calls / "labels.tsv", "--format", "kaldi",
                   "--unlabelled", "keep")
    assert wrong.exit_code == 2


def test_dataset_cache_notices_audio_added_to_or_removed_from_a_folder(calls):
    assert curate("datasets", "add", "calls", calls, "--unlabelled", "keep").exit_code == 0
    manifest = workspace_cache("calls") / "manifest.jsonl"
    write(calls / "d.wav", speechlike(1.2, seed=9))
    shown = curate("datasets", "show", "calls")
    assert shown.exit_code == 0, shown.output
    assert {r.id for r in read_manifest(manifest)} == {"a", "b", "c", "d"}
    (calls / "c.wav").unlink()
    (calls / "d.wav").unlink()
    assert curate("datasets", "show", "calls").exit_code == 0
    assert {r.id for r in read_manifest(manifest)} == {"a", "b"}
