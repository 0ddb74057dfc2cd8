"""Bad input records through the real commands: every malformed field, lone surrogate, non-finite
time, slice past the end of its file, unreadable or looping audio path becomes a set-aside line or
a rejected record with file:line or id and a reason, and every good record is still there."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.cli import app
from curate.registry import WORKSPACE_ENV
from manifests import Problems, Record, RecordError, read_manifest
from manifests.audio import END_SLACK_S, AudioError, load
from manifests.importers import detect, read_source
from tests.audio_gen import speechlike, write

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
GOOD = ["g1", "g2", "g3"]


def curate(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "300"})


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def clip(tmp_path):
    """One 2 s speech-like clip every record points at: only the fields differ."""
    return write(tmp_path / "clip.wav", speechlike(1.0))


# Malformed curate-format fields: (id, fields replacing the good ones, fragment of the reason).
BAD_FIELDS = [
    ("b-lineage", {"lineage": 5}, "'lineage' must be a list of objects, got 5"),
    ("b-lineage-items", {"lineage": ["vad"]}, "'lineage' must be a list of objects"),
    ("b-speech-str", {"speech": "abc"}, "'speech' must be a list of [start, end], got a string of 3 characters"),
    ("b-speech-x", {"speech": [[0, "x"]]}, "'speech'[0] must be [start, end]"),
    ("b-speech-int", {"speech": 5}, "'speech' must be a list of [start, end], got 5"),
    ("b-speech-order", {"speech": [[0.5, 1.0], [1.2, 0.9]]}, "'speech'[1] must be [start, end]"),
    ("b-speech-neg", {"speech": [[-0.5, 1.0]]}, "0 <= start <= end"),
    ("b-seg-a", {"segments": [{"start": "a", "end": 1.0, "text": "你好"}]},
     "'segments'[0]: 'start' must be a finite number, got a string of 1 characters"),
    ("b-seg-null", {"segments": [{"start": 0.0, "end": 1.0}, {"start": None, "end": 1.5}]},
     "'segments'[1]: 'start' must be a finite number, got None"),
    ("b-seg-missing", {"segments": [{"start": 0.0, "text": "你好"}]},
     "'segments'[0]: 'end' must be a finite number"),
    ("b-seg-order", {"segments": [{"start": 1.5, "end": 0.5}]}, "'start' 1.5 is after 'end' 0.5"),
    ("b-seg-text", {"segments": [{"start": 0, "end": 1, "text": 7}]},
     "'segments'[0]: 'text' must be a string, got 7"),
    ("b-seg-list", {"segments": "0-1"}, "'segments' must be a list of {start, end, text}"),
    ("b-rate", {"sample_rate": -16000}, "'sample_rate' must be a positive integer, got -16000"),
    ("b-rate-str", {"sample_rate": "16k"}, "'sample_rate' must be a positive integer"),
    ("b-channels", {"channels": 1.5}, "'channels' must be a positive integer, got 1.5"),
    ("b-speaker", {"speaker": ["s1"]}, "'speaker' must be a string, got a list of 1 items"),
    ("b-batch", {"batch": {"n": 1}}, "'batch' must be a string"),
    ("b-tags", {"tags": "fuzzy"}, "'tags' must be a list of strings"),
    ("b-parts", {"parts": 5}, "'parts' must be a list of {id, start, end}, got 5"),
    ("b-text", {"text": 12}, "'text' must be a string, got 12"),
    ("b-huge", {"duration": 10 ** 400}, "'duration' must be a finite number"),
    ("b-huge-seg", {"segments": [{"start": 0, "end": 10 ** 400}]}, "'end' must be a finite"),
    ("b-nan", {"offset": float("nan")}, "'offset' must be a finite number, got nan"),
]
# Lone surrogates, as JSON escapes in the raw line (json.dumps writes them so).
SURROGATES = [
    ("b-sur-text", {"text": "你\ud800好"}, "'text' holds a lone surrogate"),
    ("b-sur-hyp", {"hyp": "\udfff"}, "'hyp' holds a lone surrogate"),
    ("b-sur-speaker", {"speaker": "s\udc00"}, "'speaker' holds a lone surrogate"),
    ("b-sur-seg", {"segments": [{"start": 0, "end": 1, "text": "\ud800"}]},
     "'segments'[0].text holds a lone surrogate"),
    ("b-sur-tag", {"tags": ["ok", "\ud801"]}, "'tags'[1] holds a lone surrogate"),
    ("b-sur-extra", {"note": {"by": ["x", "\udbff"]}}, "'note'.by[1] holds a lone surrogate"),
    ("b-sur-key", {"k\ud800": 1}, "a key holds a lone surrogate"),
    ("b-sur-\ud800", {}, "b-sur-\\ud800: 'id' holds a lone surrogate"),
]


def good_record(rid: str, audio: str) -> dict:
    return {"id": rid, "audio": audio, "offset": 0.0, "duration": 2.0, "text": "打开空调",
            "speaker": "s1", "sample_rate": 16000, "channels": 1,
            "segments": [{"start": 0.4, "end": 1.6, "text": "打开空调"}]}


def manifest_lines(audio: str) -> tuple[list[str], dict[int, str]]:
    """Good records at the start, middle and end, every bad one between; line -> reason."""
    lines, expected = [json.dumps(good_record("g1", audio))], {}
    for k, (rid, fields, reason) in enumerate(BAD_FIELDS + SURROGATES):
        lines.append(json.dumps({**good_record(rid, audio), **fields}))  # ensure_ascii: \ud800
        expected[len(lines)] = reason
        if k == len(BAD_FIELDS):
            lines.append(json.dumps(good_record("g2", audio), ensure_ascii=False))
    lines.append(json.dumps(good_record("g3", audio)))
    return lines, expected


def test_record_from_dict_names_id_and_field():
    for rid, fields, reason in BAD_FIELDS + SURROGATES:
        with pytest.raises(RecordError) as e:
            Record.from_dict({**good_record(rid, "/a.wav"), **fields})
        assert reason in str(e.value), rid
        if "\ud800" not in rid:
            assert str(e.value).startswith(f"{rid}: "), str(e.value)
        str(e.value).encode("utf-8")   # a reason is always printable, even about the id itself
    # integers are taken as speaker/batch names (corpora number their speakers); a surrogate
    # pair escape is an ordinary character, not a lone surrogate
    r = Record.from_dict({**good_record("ok", "/a.wav"), "speaker": 1089, "batch": 3,
                          "text": json.loads('"\\ud83d\\ude97 \\u4f60"')})
    assert (r.speaker, r.batch, r.text) == ("1089", "3", "\U0001F697 你")


def test_read_manifest_sets_every_bad_line_aside(clip, tmp_path):
    lines, expected = manifest_lines(clip)
    # JSON that json.loads refuses with other errors than JSONDecodeError
    lines += ['{"id": "big", "audio": "a.wav", "duration": 1' + "0" * 5000 + "}",
              '{"id": "deep", "audio": "a.wav", "duration": 1, "x": ' + "[" * 100_000
              + "]" * 100_000 + "}"]
    expected[len(lines) - 1] = "not valid JSON (Exceeds the limit"
    expected[len(lines)] = "not valid JSON (maximum recursion depth"
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = Problems()
    assert [r.id for r in read_manifest(path, problems)] == GOOD
    got = {p.line: p.reason for p in problems}
    assert sorted(got) == sorted(expected)
    for line, reason in expected.items():
        assert reason in got[line], (line, got[line])
    # the escaped id is named in the problem, and every problem is printable as UTF-8
    assert "b-sur-\\ud800: 'id'" in got[len(lines) - 3]
    "\n".join(map(str, problems)).encode("utf-8")


def test_run_survives_every_bad_record(clip, tmp_path):
    lines, expected = manifest_lines(clip)
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = curate("run", "m.jsonl", "--plugins", "vad,qc,short,chunk30,merge30",
                    "--workers", "1", "--out", "out")
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    problems = info["input_problems"]
    assert len(problems) == len(expected)
    for line, reason in expected.items():
        assert any(p.startswith(f"m.jsonl:{line}: ") and reason in p for p in problems), reason
    assert f"{len(expected)} unreadable input line(s)" in result.output
    acc = info["accounting"]
    assert acc["input_records"] == len(GOOD)
    kept = [r for r in read_manifest(tmp_path / "out" / "manifest.jsonl")]
    # merge30 packs the three good records into one window made of all of them
    assert sorted(p["id"] for r in kept for p in r.extra.get("parts", [{"id": r.id}])) == GOOD


def write_slices(tmp_path, clip, rows):
    path = tmp_path / "slices.jsonl"
    path.write_text("".join(json.dumps({"id": rid, "audio": audio, "offset": off,
                                        "duration": dur, "text": "好"}) + "\n"
                            for rid, audio, off, dur in rows))
    return path


def test_slice_past_end_loop_and_broken_link_are_rejected_by_name(clip, tmp_path):
    seconds = sf.info(clip).duration
    loop = tmp_path / "loop.wav"
    os.symlink(loop, loop)
    broken = tmp_path / "broken.wav"
    os.symlink(tmp_path / "gone.wav", broken)
    (tmp_path / "folder.wav").mkdir()
    path = write_slices(tmp_path, clip, [
        ("in", clip, 0.0, seconds),
        ("slack", clip, 0.5, seconds - 0.5 + END_SLACK_S / 2),  # rounding: clamped, kept
        ("past", clip, 0.5, seconds),                            # declares 0.5 s it lacks
        ("loop", str(loop), 0.0, 1.0),
        ("broken", str(broken), 0.0, 1.0),
        ("folder", str(tmp_path / "folder.wav"), 0.0, 1.0),
        ("nul", "a\u0000b.wav", 0.0, 1.0)])
    result = curate("run", path, "--plugins", "qc", "--workers", "1", "--out", "out")
    assert result.exit_code == 0, result.output
    kept = {r.id: r for r in read_manifest(tmp_path / "out" / "manifest.jsonl")}
    assert sorted(kept) == ["in", "slack"]
    assert kept["slack"].duration == pytest.approx(seconds - 0.5, abs=1 / 16000)
    rejected = {r.id: r.extra["reason"] for r in read_manifest(tmp_path / "out" / "rejected.jsonl")}
    assert rejected == {"past": "slice_past_end", "loop": "symlink_loop",
                        "broken": "missing_audio", "folder": "unreadable_audio",
                        "nul": "unreadable_audio"}
    acc = json.loads((tmp_path / "out" / "run.json").read_text())["accounting"]
    assert acc["records"]["rejected"] == 5 and acc["records"]["kept"] == 2
    # the detail load gives with each reason
    for audio, dur, reason, words in [(clip, seconds, "slice_past_end", "past the end of the file"),
                                      (str(loop), None, "symlink_loop", "leads back to itself"),
                                      (str(broken), None, "missing_audio", "broken symlink")]:
        with pytest.raises(AudioError) as e:
            load(audio, 0.5 if dur else 0.0, dur)
        assert e.value.reason == reason and words in e.value.detail


# --- importers through `curate datasets add` ---

def wenet_and_nemo_lines(fmt: str, audio: str) -> tuple[list[str], dict[int, tuple[str, str]]]:
    """A WeNet data.list or NeMo manifest: good entries around bad ones; line -> (id, reason)."""
    def entry(rid, **fields):
        base = ({"key": rid, "wav": audio, "txt": "导航回家"} if fmt == "wenet" else
                {"id": rid, "audio_filepath": audio, "duration": 1.5, "text": "导航回家"})
        return json.dumps({**base, **fields})

    bad = [("b-lineage", {"lineage": 5}, "'lineage' must be a list of objects"),
           ("b-speech", {"speech": [[0, "x"]]}, "'speech'[0] must be [start, end]"),
           ("b-speech-str", {"speech": "abc"}, "'speech' must be a list of [start, end]"),
           ("b-seg", {"segments": [{"start": "a", "end": 1}]}, "'start' must be a finite number"),
           ("b-seg-null", {"segments": [{"start": None, "end": 1}]}, "'start' must be a finite"),
           ("b-spk", {"speaker": [1]}, "'speaker' must be a string"),
           ("b-note", {"note": "\udfff"}, "'note' holds a lone surrogate"),
           ("b-nan", {"start" if fmt == "wenet" else "offset": float("nan")}, "got nan"),
           ("b-inf", {"end" if fmt == "wenet" else "duration": float("inf")}, "got inf"),
           ("b-\ud800", {}, "b-\\ud800: 'id' holds a lone surrogate"),
           ("b-text", {"txt" if fmt == "wenet" else "text": "\ud800"},
            "'text' holds a lone surrogate")]
    lines, expected = [entry("g1")], {}
    for k, (rid, fields, reason) in enumerate(bad):
        lines.append(entry(rid, **fields))
        expected[len(lines)] = (rid.encode("utf-8", "backslashreplace").decode(), reason)
        if k == 4:
            lines.append(entry("g2"))
    lines.append(entry("g3"))
    return lines, expected


@pytest.mark.parametrize("fmt,name", [("wenet", "data.list"), ("nemo", "train.json")])
def test_datasets_add_sets_aside_bad_json_lines(workspace, clip, fmt, name):
    lines, expected = wenet_and_nemo_lines(fmt, clip)
    src = workspace / "src" / name
    src.parent.mkdir()
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = curate("datasets", "add", "d", src, "--format", fmt)
    assert result.exit_code == 0, result.output
    out = result.output
    for line, (rid, reason) in expected.items():
        prefix = f"src/{name}:{line} [{rid}]: "
        assert any(x.strip().startswith(prefix) and reason in x for x in out.splitlines()), \
            (prefix, reason, out)
    assert f"set aside {len(expected)}" in " ".join(out.replace("│", " ").split())
    problems = (workspace / ".curate" / "datasets" / "d" / "problems.txt").read_text("utf-8")
    assert len(problems.splitlines()) == len(expected)
    kept = list(read_manifest(workspace / ".curate" / "datasets" / "d" / "manifest.jsonl"))
    assert [r.id for r in kept] == GOOD
    # and the imported dataset runs
    run = curate("run", "d", "--plugins", "vad,qc,short", "--workers", "1", "--out", "out")
    assert run.exit_code == 0, run.output


def test_kaldi_non_finite_times_and_symlink_loops_are_set_aside(workspace, clip):
    d = workspace / "kaldi"
    d.mkdir()
    os.symlink(d / "loop.wav", d / "loop.wav")
    (d / "wav.scp").write_text(f"rec {clip}\nloop loop.wav\n")
    (d / "segments").write_text("g1 rec 0 0.9\nn1 rec nan 1.0\ng2 rec 0.9 1.9\nn2 rec 0 inf\n"
                                "n3 rec -inf 1\nn4 rec 0.2 NaN\ng3 rec 1.0 -1\nl1 loop 0 1\n")
    (d / "text").write_text("g1 你好\ng2 你好\ng3 你好\nn1 a\nn2 b\nn3 c\nn4 d\nl1 e\n")
    result = curate("datasets", "add", "k", d)
    assert result.exit_code == 0, result.output
    for line, rid, what in [(2, "n1", "start nan end 1.0"), (4, "n2", "start 0.0 end inf"),
                            (5, "n3", "start -inf end 1.0"), (6, "n4", "start 0.2 end nan")]:
        assert (f"kaldi/segments:{line} [{rid}]: segment times must be finite numbers, got "
                f"{what}") in result.output
    assert (f"kaldi/wav.scp:2 [loop]: symlink loop ({d / 'loop.wav'}: the link leads back to "
            "itself)") in result.output
    assert ("kaldi/segments:8 [l1]: recording 'loop' cannot be used: symlink loop (see "
            "wav.scp:2)") in result.output
    summary = json.loads((workspace / ".curate" / "datasets" / "k" / "import.json").read_text())
    assert summary["summary"]["records"] == 3 and summary["summary"]["set_aside"] == 6
    seconds = sf.info(clip).duration
    assert summary["summary"]["hours"] == round((0.9 + 1.0 + seconds - 1.0) / 3600, 4)


def test_non_utf8_folder_name_is_set_aside_not_a_crash(workspace, clip):
    # a GBK folder name (测试) from a Windows zip: os paths carry it as surrogate escapes
    folder = os.fsdecode(os.fsencode(str(workspace)) + b"/\xb2\xe2\xca\xd4")
    os.mkdir(folder)
    shutil.copy(clip, os.path.join(folder, "a.wav"))
    tsv = Path(folder) / "labels.tsv"
    tsv.write_text("a\t你好\n", encoding="utf-8")
    problems = Problems()
    assert list(read_source(folder, "tsv", problems)) == []
    assert len(problems) == 1
    assert problems.items[0].reason.startswith("a: 'audio' holds a lone surrogate, not text")
    str(problems.items[0]).encode("utf-8")
    result = curate("datasets", "add", "t", tsv)
    assert result.exit_code == 1 and "holds a lone surrogate" in result.output


def test_one_folder_walk_skips_hidden_files(workspace, clip):
    d = workspace / "calls"
    (d / "sub").mkdir(parents=True)
    (d / ".cache").mkdir()
    shutil.copy(clip, d / "a.wav")
    shutil.copy(clip, d / "sub" / "b.wav")
    shutil.copy(clip, d / ".cache" / "c.wav")
    (d / "._a.wav").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 80)    # AppleDouble companion
    (d / "labels.tsv").write_text("a\t你好\nb\t再见\n")
    (d / "._labels.tsv").write_bytes(b"\x00\x05\x16\x07\t\x00")        # not a second label file
    assert detect(d) == "tsv"
    result = curate("datasets", "add", "c", d)
    assert result.exit_code == 0, result.output
    assert "set aside 0" in " ".join(result.output.replace("│", " ").split())
    # a folder whose only audio is hidden is not a tsv folder
    e = workspace / "mac"
    e.mkdir()
    (e / "._x.wav").write_bytes(b"\x00\x05\x16\x07")
    (e / "labels.tsv").write_text("x\t你好\n")
    assert "cannot tell the format" in curate("datasets", "add", "m", e).output


# --- permission denied: real even as root (CI runs tests as root, where chmod 000 is ignored) ---

DAC_CAPS = "-dac_override,-dac_read_search"


def run_unprivileged(args, cwd):
    """``curate ARGS`` in a subprocess that file permission bits bind. Root ignores them through
    the capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: as root, they are dropped
    (setpriv, util-linux), or else the command runs as the user nobody (65534)."""
    cmd, drop = [sys.executable, "-m", "curate", *map(str, args)], {}
    if os.geteuid() == 0:
        if shutil.which("setpriv"):
            cmd = ["setpriv", f"--inh-caps={DAC_CAPS}", f"--bounding-set={DAC_CAPS}", "--", *cmd]
        else:
            drop = {"user": 65534, "group": 65534, "extra_groups": []}
    env = {**os.environ, "HOME": str(cwd), "COLUMNS": "300", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop(WORKSPACE_ENV, None)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          **drop)


@pytest.fixture
def open_dir():
    """A folder the unprivileged user can work in (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="curate-perm-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_permission_denied_is_reported_as_such(open_dir, clip):
    probe = run_unprivileged(["--help"], open_dir)   # the subprocess itself works
    assert probe.returncode == 0, probe.stderr
    for name in ("ok.wav", "locked.wav"):
        shutil.copy(clip, open_dir / name)
        (open_dir / name).chmod(0o644)
    (open_dir / "locked.wav").chmod(0)
    (open_dir / "labels.tsv").write_text("ok\t你好\nlocked\t再见\n")
    (open_dir / "labels.tsv").chmod(0o644)
    write_slices(open_dir, clip, [("ok", str(open_dir / "ok.wav"), 0.0, 1.0),
                                  ("locked", str(open_dir / "locked.wav"), 0.0, 1.0)])
    (open_dir / "slices.jsonl").chmod(0o644)
    add = run_unprivileged(["datasets", "add", "calls", open_dir], open_dir)
    assert add.returncode == 0, add.stdout + add.stderr
    assert "labels.tsv [locked]: audio file cannot be read" in add.stdout
    assert "locked.wav: permission denied" in add.stdout
    run = run_unprivileged(["run", "slices.jsonl", "--plugins", "qc", "--workers", "1",
                            "--out", "out"], open_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    rejected = {r.id: r.extra["reason"] for r in read_manifest(open_dir / "out" / "rejected.jsonl")}
    assert rejected == {"locked": "unreadable_audio"}
    assert [r.id for r in read_manifest(open_dir / "out" / "manifest.jsonl")] == ["ok"]


# --- an interrupted import leaves no temp file behind ---

KILLED_IMPORT = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    from curate.registry import Dataset, Workspace, import_dataset
    ws = Workspace(Path(sys.argv[1]))
    dataset = Dataset("d", Path(sys.argv[2]), "tsv")
    import_dataset(ws, dataset, on_record=lambda r: os.kill(os.getpid(), signal.SIGKILL))
''')


def test_killed_import_leaves_no_temp_file_after_the_next(workspace, clip):
    d = workspace / "calls"
    d.mkdir()
    for name in ("a", "b"):
        shutil.copy(clip, d / f"{name}.wav")
    (d / "labels.tsv").write_text("a\t你好\nb\t再见\n")
    killed = subprocess.run([sys.executable, "-c", KILLED_IMPORT,
                             workspace / "curate-datasets.json", d],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    cache = workspace / ".curate" / "datasets" / "d"
    left = [p.name for p in cache.iterdir()]
    assert len(left) == 1 and left[0].startswith(".manifest.jsonl.") and left[0].endswith(".tmp")
    # a writer that is still alive keeps its temp file
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            busy = cache / f".manifest.jsonl.{live.pid}.tmp"
            busy.write_text("")
            result = curate("datasets", "add", "d", d)
            assert result.exit_code == 0, result.output
            assert sorted(p.name for p in cache.iterdir()) == [
                busy.name, "import.json", "manifest.jsonl", "problems.txt"]
        finally:
            live.kill()
    assert [r.id for r in read_manifest(cache / "manifest.jsonl")] == ["a", "b"]


def test_problem_lines_never_show_personal_data(tmp_path, clip):
    """A misplaced or broken text is described by its type, and ids are masked, wherever a
    problem line is shown or kept: the run summary, run.json, `curate datasets add`."""
    good = Record(id="ok", audio=clip, duration=2.0, text="打开空调").to_dict()
    lines = [json.dumps(good, ensure_ascii=False),
             json.dumps({**good, "id": "a", "text": ["我的手机号是13812345678"]}, ensure_ascii=False),
             json.dumps({**good, "id": "b", "text": "我的手机号是13812345678\ud800"}),
             json.dumps({**good, "id": "13987654321", "lineage": 5})]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["run", str(manifest), "--plugins", "short",
                                   "--out", str(tmp_path / "run"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    said = res.output + (tmp_path / "run" / "run.json").read_text(encoding="utf-8")
    assert said.count("unreadable") or "input_problems" in said
    for raw in ("13812345678", "12345678", "13987654321"):
        assert raw not in said, raw
    assert "139****4321" in said
