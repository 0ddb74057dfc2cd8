"""Output that never lies or crashes: file names bounded whatever the id, user strings never read
as markup, numbers never cut at 80 columns, and write errors ending a command with one line."""
import errno
import json
import os
import re
from pathlib import Path

import pytest
import soundfile as sf
from rich.cells import cell_len
from typer.testing import CliRunner

import curate
from curate.cli import app
from curate.engine import lifecycle as run_dir
from curate.engine.output import audio_name
from manifests import Record, read_manifest, write_manifest
from manifests.jsonl import temp_path
from tests.audio_gen import speechlike, write

DEMO = Path(curate.__file__).parent / "demo"
EXT_B = "".join(chr(0x20000 + k) for k in range(80))  # 80 characters, 320 UTF-8 bytes
MARKUP = ("[/]", "[bold]", "[link=x]")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def recordings(tmp_path, specs) -> Path:
    """A manifest of generated recordings: ``specs`` is (id, seconds of speech, fields)."""
    recs = []
    for k, (rid, seconds, fields) in enumerate(specs):
        audio = speechlike(seconds, seed=k)
        path = write(tmp_path / f"src{k}.wav", audio)
        recs.append(Record(id=rid, audio=path, duration=len(audio) / 16000, **fields))
    write_manifest(tmp_path / "in.jsonl", recs)
    return tmp_path / "in.jsonl"


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*.tmp")]


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error")]


# --- file names ---

def test_ids_too_long_for_a_file_name_get_bounded_distinct_audio_files(tmp_path):
    ids = [EXT_B, EXT_B + "a", EXT_B + "b", "x" * 300]  # two differ only beyond the prefix
    manifest = recordings(tmp_path, [(rid, 1.5 + 0.5 * k, {"text": "打开车窗"})
                                     for k, rid in enumerate(ids)])
    sources = {r.id: r.duration for r in read_manifest(manifest)}
    out = tmp_path / "run"
    result = invoke("run", manifest, "--plugins", "noise", "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output

    kept = {r.id: r for r in read_manifest(out / "manifest.jsonl")}
    assert sorted(kept) == sorted(ids)
    files = sorted((out / "audio").iterdir())
    assert len(files) == len(ids)
    assert all(len(f.name.encode()) <= 255 for f in files)
    # Each record points at its own file: the durations of the sources are all different.
    assert len({r.audio for r in kept.values()}) == len(ids)
    for rid, rec in kept.items():
        assert Path(rec.audio).parent == (out / "audio").resolve()
        assert sf.info(rec.audio).frames == round(sources[rid] * 16000)
        assert rec.lineage[-1]["stage"] == "noise"
    assert Path(kept[EXT_B].audio).name.startswith(EXT_B[:30])  # still readable


# --- markup ---

def test_markup_in_ids_tags_and_texts_is_printed_as_is_by_run_and_qc(tmp_path):
    specs = [(f"utt{m}{k}", 2.0, {"text": f"打开车窗{m}～", "speaker": f"spk{m}",
                                  "batch": f"batch{m}", "tags": [f"tag{m}"]})
             for k, m in enumerate(MARKUP)]
    specs.append(("plain", 2.0, {"text": "关闭空调", "speaker": "spk[/]", "batch": "batch[/]"}))
    manifest = recordings(tmp_path, specs)
    with open(manifest, "a", encoding="utf-8") as f:  # an unreadable line quoting its id
        f.write(json.dumps({"id": "bad[/]line[bold]", "audio": "a.wav", "duration": 1.0,
                            "text": 5}) + "\n")
    out = tmp_path / "runs[bold]" / "r[/]1"
    result = invoke("run", manifest, "--plugins", "vad,qc,sensitive", "--set", "qc.drop=fuzzy",
                    "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "bad[/]line[bold]" in result.output and str(out) in result.output
    assert "qc:fuzzy 3" in result.output
    info = json.loads((out / "run.json").read_text())
    assert info["accounting"]["records"] == {"kept": 1, "eval_only": 0, "rejected": 3}
    assert {r.id for r in read_manifest(out / "rejected.jsonl")} == {s[0] for s in specs[:3]}

    qc_out = tmp_path / "qc[link=x]"
    result = invoke("qc", manifest, "--out", qc_out, "--workers", "1")
    assert result.exit_code == 0, result.output
    for rid, _, fields in specs:
        assert fields["batch"] in result.output and fields["speaker"] in result.output
    for rid, _, _ in specs[:3]:
        assert rid in result.output  # among the worst fuzzy examples
    assert "bad[/]line[bold]" in result.output
    flagged = {r.id for r in read_manifest(qc_out / "flagged.jsonl")}
    assert flagged >= {s[0] for s in specs[:3]}
    report = json.loads((qc_out / "qc.json").read_text())
    assert {b["name"] for b in report["batches"]} == {s[2]["batch"] for s in specs}
    assert "utt[/]0" in (qc_out / "report.html").read_text()


def test_markup_and_emoji_codes_in_cer_ids_and_system_names_are_printed_as_is(tmp_path):
    ids = [f"u{m}:car:{k}" for k, m in enumerate(MARKUP)]
    ref = tmp_path / "ref.tsv"
    ref.write_text("".join(f"{rid}\t打开车窗{m}\n" for rid, m in zip(ids, MARKUP)),
                   encoding="utf-8")
    hyp = tmp_path / "sys[bold]:car:.tsv"  # a bare file names its system after its stem
    hyp.write_text(f"{ids[0]}\t打开车窗\n{ids[1]}\t\nghost[/]:car:\t你好\n", encoding="utf-8")
    out = tmp_path / "report[/]"
    result = invoke("cer", "--ref", ref, "--hyp", hyp, "--show-bad", "5",
                    "--bootstrap", "50", "--out", out)
    assert result.exit_code == 0, result.output
    for text in ("sys[bold]:car:", "ghost[/]:car:", ids[1], ids[2], "打开车窗[link=x]",
                 str(out)):
        assert text in result.output, text
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["systems"]) == ["sys[bold]:car:"]
    rows = (out / "per_utt.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert [row.split("\t")[1] for row in rows] == ids


# --- tables at 80 columns ---

def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def in_one_row(output: str, cells: list[str]) -> bool:
    """The cells appear whole, in this order, on one line, apart only by space or rules."""
    pattern = r"[\s│┃|]+".join(rf"(?<![\w.%]){re.escape(c)}(?![\w.%])" for c in cells)
    return any(re.search(pattern, line) for line in output.splitlines())


def narrow(output: str) -> None:
    assert "…" not in output  # no number or id is ever ellipsized
    assert max(cell_len(line) for line in output.splitlines()) <= 80


def test_cer_report_at_80_columns_shows_every_number_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    prefix = "recording_from_the_second_annotation_batch_of_march_"
    labels = {json.loads(line)["id"]: json.loads(line).get("text") or ""
              for line in (DEMO / "manifest.jsonl").read_text(encoding="utf-8").splitlines()}
    base1 = dict(line.split("\t", 1)
                 for line in (DEMO / "base1.tsv").read_text(encoding="utf-8").splitlines())
    ref = tmp_path / "ref.tsv"
    ref.write_text("".join(f"{prefix}{k}\t{t}\n" for k, t in labels.items()), encoding="utf-8")
    names = ["online_streaming_conformer_base1_2024q3", "qwen2_audio_corrector_sft_lora_r16",
             "qwen2_audio_asr_full_finetune_run_7"]
    hyps = []
    for n, name in enumerate(names):
        path = tmp_path / f"{name}.tsv"
        # each system drops a different share of the hypotheses' last characters
        path.write_text("".join(f"{prefix}{k}\t{t[:-1] if i % (n + 2) == 0 else t}\n"
                                for i, (k, t) in enumerate(base1.items())), encoding="utf-8")
        hyps += ["--hyp", f"{name}={path}"]
    out = tmp_path / "report"
    result = invoke("cer", "--ref", ref, *hyps, "--corrects", f"{names[1]}:{names[0]}",
                    "--show-bad", "3", "--bootstrap", "200", "--out", out)
    assert result.exit_code == 0, result.output
    narrow(result.output)
    summary = json.loads((out / "summary.json").read_text())
    for s in summary["systems"].values():
        lo, hi = s["cer_ci95"]
        assert in_one_row(result.output, [str(s[k]) for k in ("utterances", "N", "C", "S", "D",
                                                              "I")] + [pct(s["cer"]),
                                                                       f"{pct(lo)}–{pct(hi)}"])
        assert in_one_row(result.output, [pct(s["cer_raw"]), pct(s["cer_missing_as_deletions"]),
                                          pct(s["cer_missing_skipped"]), str(s["missing"]),
                                          str(s["empty"])])
    assert len(summary["comparisons"]) == 3
    for p in summary["comparisons"]:
        assert in_one_row(result.output, [str(p["utterances"]), pct(p["cer_a"]), pct(p["cer_b"]),
                                          f"{100 * (p['cer_b'] - p['cer_a']):+.2f}",
                                          f"{p['p_value']:.4f}"])
    [c] = summary["corrections"]
    assert in_one_row(result.output, [f"{pct(c['cer_a'])} → {pct(c['cer_b'])}"])
    assert in_one_row(result.output, [f"{c['fixed']} of {c['errors_a']} (fix rate "
                                      f"{100 * c['fix_rate']:.1f}%)"])
    assert in_one_row(result.output, [f"{c['broken']} of {c['correct_a']} "
                                      f"({pct(c['over_correction_rate'])})"])


def long_id_recordings(tmp_path) -> Path:
    specs = []
    for k in range(6):
        text = ["打开车窗", "导航到公司～", "", "把空调调到二十二度", "播放音乐", "关闭"][k]
        specs.append((f"car_cabin_recording_batch_2024_03_speaker_{k % 2}_utterance_{k:05d}",
                      1.5 + k % 3, {"text": text,
                                    "speaker": f"speaker_from_the_annotation_vendor_{k % 2}",
                                    "batch": f"annotation_batch_2024_03_vendor_b_{k % 3}"}))
    return recordings(tmp_path, specs)


def stage_rows(info: dict) -> list[list[str]]:
    return [[key.split(":", 1)[-1], str(s["records_in"]), str(s["records_out"]),
             str(s["records_dropped"]), f"{s['hours_in']:.3f}", f"{s['hours_out']:.3f}",
             f"{s['hours_dropped']:.3f}", f"{s['seconds']:.1f}"]
            for key, s in info["per_stage"].items()]


def test_run_and_qc_summaries_at_80_columns_show_every_number_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    manifest = long_id_recordings(tmp_path)
    out = tmp_path / "run"
    result = invoke("run", manifest, "--plugins", "vad,qc,short,merge30,noise", "--set",
                    "short.min=2.5", "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    narrow(result.output)
    info = json.loads((out / "run.json").read_text())
    for row in stage_rows(info):
        assert in_one_row(result.output, row), row
    acc = info["accounting"]
    assert (f"records {acc['input_records']} in = {acc['records']['kept']} kept + "
            f"{acc['records']['eval_only']} eval_only + {acc['records']['rejected']} rejected"
            in result.output)

    result = invoke("qc", out, "--out", tmp_path / "qc")
    assert result.exit_code == 0, result.output
    narrow(result.output)  # the labels are short: nothing needs to give way
    report = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert report["tags"]
    for t in report["tags"]:
        assert in_one_row(result.output, [t["tag"], str(t["records"]), f"{t['share']:.1%}",
                                          f"{t['hours']:.3f}", str(t["rejected"])]), t
    for key in ("batches", "speakers"):
        for g in report[key]:
            assert in_one_row(result.output, [str(g["records"]), f"{g['hours']:.3f}",
                                              str(g["flagged"]), f"{g['share']:.0%}"]), g


# --- write errors ---

@pytest.fixture
def full_disk():
    """Plants a link to /dev/full: whatever is written through it fails with ENOSPC, for real."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    planted = []

    def plant(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to("/dev/full")
        planted.append(path)
        return path
    yield plant
    assert os.path.exists("/dev/full")
    assert not any(p.is_symlink() for p in planted), "the writer left its temp file behind"


def test_cer_report_on_a_full_disk_ends_with_one_line(tmp_path, full_disk):
    out = tmp_path / "report"
    full_disk(temp_path(out / "summary.json"))
    result = invoke("cer", "--ref", DEMO / "manifest.jsonl", "--hyp", DEMO / "base1.tsv",
                    "--bootstrap", "0", "--out", out)
    assert result.exit_code == 1
    assert error_lines(result.output) == [
        f"error: cannot write {out / 'summary.json'}: No space left on device"]
    assert "Traceback" not in result.output
    assert not (out / "summary.json").exists() and not leftovers(out)


# A small manifest fails at the last flush (commit), a large one while rows are written.
@pytest.mark.parametrize("victim, records", [("manifest.jsonl", 3), ("manifest.jsonl", 200),
                                             ("rejected.jsonl", 3), ("audio", 3)])
def test_run_on_a_full_disk_ends_with_one_line_and_leaves_nothing(tmp_path, full_disk,
                                                                  monkeypatch, victim, records):
    audio = write(tmp_path / "a.wav", speechlike(1.0))
    recs = [Record(id=f"utt{k:04d}", audio=audio, duration=2.0, text="打开车窗" * 20)
            for k in range(records)]
    recs.append(Record(id="short", audio=audio, duration=1.0, text="好"))
    write_manifest(tmp_path / "in.jsonl", recs)
    out = tmp_path / "run"
    path = out / "audio" / audio_name("utt0000") if victim == "audio" else out / victim
    prepare = run_dir.prepare

    def prepare_then_fill(out_dir, *args, **kwargs):  # the disk fills once the folder is made
        prepare(out_dir, *args, **kwargs)
        full_disk(path if victim == "audio" else temp_path(path))
    monkeypatch.setattr(run_dir, "prepare", prepare_then_fill)
    # short rejects one record, so rejected.jsonl has a line; noise writes audio
    stages = "short,noise" if victim == "audio" else "short"
    result = invoke("run", tmp_path / "in.jsonl", "--plugins", stages, "--set", "short.min=1.5",
                    "--workers", "1", "--out", out)
    assert result.exit_code == 1, result.output
    assert error_lines(result.output) == [f"error: cannot write {path}: No space left on device"]
    assert "Traceback" not in result.output
    assert not leftovers(out)
    assert not (out / "run.json").exists() and not (out / "manifest.jsonl").exists()


@pytest.mark.parametrize("code, said", [(errno.EROFS, "cannot write {}: Read-only file system"),
                                         (errno.EACCES, "{}: Permission denied")])
def test_a_folder_that_cannot_be_written_ends_with_one_line(tmp_path, monkeypatch, code, said):
    locked = tmp_path / "locked"
    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):  # root ignores permission bits: refuse as a mount would
        if self == locked or locked in self.parents:
            raise OSError(code, os.strerror(code), str(self))
        return mkdir(self, *args, **kwargs)
    monkeypatch.setattr(Path, "mkdir", refuse)
    result = invoke("cer", "--ref", DEMO / "manifest.jsonl", "--hyp", DEMO / "base1.tsv",
                    "--bootstrap", "0", "--out", locked / "report")
    assert result.exit_code == 1
    assert error_lines(result.output) == ["error: " + said.format(locked / "report")]
    assert "Traceback" not in result.output


def test_out_naming_a_file_ends_with_one_line(tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine\n")
    result = invoke("cer", "--ref", DEMO / "manifest.jsonl", "--hyp", DEMO / "base1.tsv",
                    "--bootstrap", "0", "--out", existing)
    assert result.exit_code == 1
    assert error_lines(result.output) == [f"error: {existing}: File exists"]
    manifest = recordings(tmp_path, [("a", 1.5, {"text": "好的"})])
    result = invoke("run", manifest, "--plugins", "short", "--workers", "1", "--out", existing)
    assert result.exit_code in (1, 2)
    [line] = error_lines(result.output)
    assert str(existing) in line and "Traceback" not in result.output
    assert existing.read_text() == "mine\n"
