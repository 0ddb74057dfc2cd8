"""`curate qc` on the demo corpus, on a run directory, and on bad input."""
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app
from manifests import Record, read_manifest, write_manifest

DEMO = Path(__file__).resolve().parent.parent / "curate" / "demo"
PLANTED = json.loads((DEMO / "planted.json").read_text())
SENSITIVE_IDS = {i for k, ids in PLANTED.items() if k.startswith("sensitive_") for i in ids}
RAW_VALUES = ("13812345678", "310115198704122030", "京A12345", "中关村大街27号")


def invoke(*args):
    return CliRunner().invoke(app, ["qc", *map(str, args)])


@pytest.fixture(scope="module")
def demo_qc(tmp_path_factory):
    out = tmp_path_factory.mktemp("qc_demo") / "qc"
    res = invoke("demo", "--out", out, "--workers", "1")
    assert res.exit_code == 0, res.output
    return out, res.output


def flagged_tags(out: Path) -> dict[str, list[str]]:
    return {r.id: r.tags for r in read_manifest(out / "flagged.jsonl")}


def test_planted_label_and_audio_problems_are_reported(demo_qc):
    out, output = demo_qc
    flagged = flagged_tags(out)
    for category, tag in (("fuzzy", "fuzzy"), ("empty_label", "empty_label"),
                          ("rate_mismatch", "rate_too_fast"), ("noisy", "low_snr"),
                          ("clipped", "clipping"), ("sr_8k", "odd_sample_rate"),
                          ("sr_44k", "odd_sample_rate"), ("stereo", "odd_channels")):
        for rid in PLANTED[category]:
            assert tag in flagged.get(rid, []), (category, rid, flagged.get(rid))
    for tag in ("fuzzy", "empty_label", "rate_too_fast", "low_snr"):
        assert tag in output
    report = json.loads((out / "qc.json").read_text())
    counts = {t["tag"]: t["records"] for t in report["tags"]}
    assert counts["fuzzy"] == len(PLANTED["fuzzy"]) and counts["low_snr"] == len(PLANTED["noisy"])
    assert {b["name"] for b in report["batches"]} == {"batch1", "batch2"}
    assert report["worst"]["low_snr"][0]["id"] in PLANTED["noisy"]
    assert report["worst"]["rate_too_fast"][0]["id"] == PLANTED["rate_mismatch"][0]
    html = (out / "report.html").read_text(encoding="utf-8")
    for rid in PLANTED["fuzzy"] + PLANTED["noisy"] + PLANTED["empty_label"]:
        assert f">{rid}<" in html
    assert html.count("data:audio/flac;base64,") == len(flagged)


def test_personal_data_goes_to_eval_only_and_is_masked_everywhere(demo_qc):
    out, output = demo_qc
    kept = {r.id for r in read_manifest(out / "manifest.jsonl")}
    eval_only = {r.id: r for r in read_manifest(out / "eval_only.jsonl")}
    assert SENSITIVE_IDS <= set(eval_only) and not SENSITIVE_IDS & kept
    for rid in PLANTED["sensitive_phone"]:
        assert eval_only[rid].has_tag("sensitive:phone")
    for name in ("report.html", "flagged.jsonl", "qc.json"):
        text = (out / name).read_text(encoding="utf-8")
        for raw in RAW_VALUES:
            assert raw not in text, (name, raw)
    for raw in RAW_VALUES:
        assert raw not in output


def test_a_complete_check_is_reused(demo_qc):
    out, _ = demo_qc
    res = invoke("demo", "--out", out)
    assert res.exit_code == 0 and "already checked" in res.output
    assert (out / "report.html").is_file()


def test_a_run_directory_is_checked_where_it_was_not(tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "demo", "--plugins", "short,merge30", "--out", str(run),
                                   "--workers", "1", "--no-sensitive"])
    assert res.exit_code == 0, res.output
    assert "--no-sensitive: no stage looks for personal data" in " ".join(res.output.split())
    res = invoke(run)
    assert res.exit_code == 0, res.output
    report = json.loads((run / "qc.json").read_text())
    assert report["unchecked"] == 0
    # No sensitive stage ran: the windows holding personal data are in manifest.jsonl. Say so.
    assert report["leaks"] and "hold personal" in res.output
    leaked_parts = {p["id"] for r in read_manifest(run / "manifest.jsonl")
                    if r.id in report["leaks"] for p in r.extra.get("parts", [{"id": r.id}])}
    assert SENSITIVE_IDS <= leaked_parts
    # the windows tagged fuzzy are exactly those holding a planted fuzzy record
    fuzzy = {rid for rid, tags in flagged_tags(run).items() if "fuzzy" in tags}
    parts = {r.id: {p["id"] for p in r.extra.get("parts", [{"id": r.id}])}
             for name in ("manifest.jsonl", "eval_only.jsonl")
             for r in read_manifest(run / name)}
    assert set(PLANTED["fuzzy"]) <= set().union(*parts.values())
    assert fuzzy == {w for w, ids in parts.items() if ids & set(PLANTED["fuzzy"])}


def test_duplicates_are_found_across_the_dataset(tmp_path):
    records = list(read_manifest(DEMO / "manifest.jsonl"))[:4]
    copy = records[1]
    shutil.copy(copy.audio, tmp_path / "copy.flac")
    dup = Record(id="copy_of_" + copy.id, audio=str(tmp_path / "copy.flac"),
                 duration=copy.duration, text=copy.text)
    write_manifest(tmp_path / "manifest.jsonl", records + [dup])
    res = invoke(tmp_path / "manifest.jsonl", "--out", tmp_path / "qc", "--workers", "1")
    assert res.exit_code == 0, res.output
    flagged = {r.id: r for r in read_manifest(tmp_path / "qc" / "flagged.jsonl")}
    assert {"dup_audio", "dup_text_duration"} <= set(flagged[dup.id].tags)
    assert flagged[dup.id].extra["qc"]["dup_of"] == copy.id
    assert copy.id not in flagged or "dup_audio" not in flagged[copy.id].tags


@pytest.mark.parametrize("args, message", [
    (["no_such_dataset"], "unknown dataset"),
    (["demo", "--set", "qc.drop=fuzzy"], "curate run"),
    (["demo", "--set", "vad.pad=1"], "no settings for vad"),
    (["demo", "--set", "qc.snr_min=loud"], "qc.snr_min"),
])
def test_bad_arguments_exit_with_a_reason(args, message):
    res = invoke(*args)
    assert res.exit_code == 2 and message in res.output, res.output


def test_bad_lines_and_missing_audio_are_set_aside(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    good = list(read_manifest(DEMO / "manifest.jsonl"))[:3]
    gone = Record(id="gone", audio=str(tmp_path / "gone.flac"), duration=2.0, text="打开车窗")
    write_manifest(run / "manifest.jsonl", good + [gone])
    with open(run / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write("{not json\n")
    res = invoke(run)
    assert res.exit_code == 0, res.output
    assert "manifest.jsonl:5" in res.output and "gone" in res.output
    report = json.loads((run / "qc.json").read_text())
    assert report["records"] == 4 and report["unchecked"] == 1
