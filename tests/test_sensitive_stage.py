"""The sensitive stage: tags, eval-only routing, masked findings, redacted copies, every field
read (texts, segments, id, speaker, batch, custom fields), and routing through `curate run` on
generated audio and on the demo corpus, merged windows included, in either stage order."""
import json
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.cli import app
from curate.stage import Context, Item, ParamError
from manifests import Record, read_manifest, write_manifest
from plugins.sensitive import Sensitive
from tests.audio_gen import speechlike, write
from tests.cli import ok

DEMO = Path(__file__).resolve().parent.parent / "curate" / "demo"
PLANTED = json.loads((DEMO / "planted.json").read_text())
SENSITIVE_IDS = {i for k, ids in PLANTED.items() if k.startswith("sensitive_") for i in ids}


def run_stage(stage, records):
    return [it.record for it in stage(iter([Item(r, None) for r in records]), Context())]


def rec(rid, text, **kw):
    return Record(id=rid, audio="/nowhere.flac", duration=2.0, text=text, **kw)


def test_tags_route_and_mask():
    out = run_stage(Sensitive(), [
        rec("a", "给13812345678打电话", hyp="给13812345678达电话"),
        rec("b", "把空调温度调到24度", hyp="把空调温度调到24度"),
        rec("c", "导航到中关村大街27号"),
    ])
    a, b, c = out
    assert a.tags == ["sensitive:phone"] and a.split == "eval_only"
    assert [(f["field"], f["masked"]) for f in a.extra["sensitive"]] == [
        ("text", "138****5678"), ("hyp", "138****5678")]
    assert "13812345678" not in json.dumps(a.extra, ensure_ascii=False)
    assert b.tags == [] and b.split == "train" and "sensitive" not in b.extra
    assert c.tags == ["sensitive:address"] and c.split == "eval_only"
    assert "text_redacted" not in a.extra  # only with redact=true


def test_redact_writes_masked_copies():
    (r,) = run_stage(Sensitive(redact="true"), [
        rec("a", "我的车牌号是沪AD12345", hyp="我的车牌号是沪AD12345",
            extra={"text_b": "车牌号沪AD12345"})])
    assert r.extra["text_redacted"] == "我的车牌号是沪A****45"
    assert r.extra["hyp_redacted"] == "我的车牌号是沪A****45"
    assert r.extra["text_b_redacted"] == "车牌号沪A****45"
    assert r.text == "我的车牌号是沪AD12345"  # the label itself is kept for evaluation


def test_redacted_copies_follow_a_rewrite():
    """A window cut from a record keeps its parent's extra fields; a later reading must replace
    the parent's redacted copy with the window's own text, or drop it with the text."""
    stage = Sensitive(redact="true")
    (r,) = run_stage(stage, [rec("a", "好的。给13812345678打电话", hyp="给13812345678打电话")])
    assert r.extra["text_redacted"] == "好的。给138****5678打电话"
    assert r.extra["hyp_redacted"] == "给138****5678打电话"
    r.text, r.hyp = "好的。", None                 # what chunk30 does to the first window
    stage.tag(r)
    assert r.extra["text_redacted"] == "好的。" and "hyp_redacted" not in r.extra
    assert r.tags == ["sensitive:phone"]           # where its parent held the data


def test_segments_custom_fields_and_earlier_tags():
    seg = rec("long", "", segments=[{"start": 0.0, "end": 1.0, "text": "好的"},
                                    {"start": 1.0, "end": 2.0, "text": "身份证310115198704122030"}])
    custom = rec("custom", "好的", extra={"note": "call 13912345678"})
    tagged = rec("merged", "好的", tags=["sensitive:plate"])
    out = run_stage(Sensitive(fields="note"), [seg, custom, tagged])
    assert out[0].tags == ["sensitive:id"] and out[0].extra["sensitive"][0]["field"] == \
        "segments[1].text"
    assert out[1].tags == ["sensitive:phone"] and out[1].split == "eval_only"
    assert out[2].split == "eval_only"  # tagged before (a packed part): still kept out of training


def test_findings_record_whether_the_check_digit_verified():
    (r,) = run_stage(Sensitive(), [rec("a", "身份证号110105199003072316，卡号6222021234567890128")])
    assert r.tags == ["sensitive:id", "sensitive:bankcard"]
    assert [(f["kind"], f["verified"]) for f in r.extra["sensitive"]] == [
        ("id", False), ("bankcard", True)]


def test_a_later_reading_keeps_what_an_earlier_one_found():
    (r,) = run_stage(Sensitive(), [rec("a", "给13812345678打电话")])
    findings = r.extra["sensitive"]
    r.text = "给138"  # a window cut from it: half the number, and the parent's tag
    (r,) = run_stage(Sensitive(), [r])
    assert r.tags == ["sensitive:phone"] and r.split == "eval_only"
    assert r.extra["sensitive"] == findings


# Each record hides a phone number in one field only; "clean" hides none.
FIELD_CASES = {
    "text_b": dict(extra={"text_b": "给13812345678打电话"}),
    "segment": dict(segments=[{"start": 0.0, "end": 1.0, "text": "好的"},
                              {"start": 1.0, "end": 2.0, "text": "拨打幺三八零零幺三八零零零"}]),
    "segment_hyp": dict(segments=[{"start": 0.0, "end": 2.0, "text": "打开空调",
                                   "hyp": "打开空调13912345678"}]),
    "speaker": dict(speaker="13912345678"),
    "batch": dict(batch="张三-13612345678"),
    "u_13712345678": {},
    "note": dict(extra={"note": "车主电话 13512345678"}),
    "contacts": dict(extra={"contacts": ["老王", "15012345678"]}),
    "clean": dict(extra={"text_b": "打开空调", "note": "好"}, speaker="spk1", batch="b1"),
}


def test_every_field_is_read_through_curate_run(tmp_path):
    recs = []
    for i, (rid, fields) in enumerate(FIELD_CASES.items()):
        path = write(tmp_path / f"{i}.wav", speechlike(2.0, seed=i))
        fields = {"text": "打开空调", **fields}
        recs.append(Record(id=rid, audio=path, duration=sf.info(path).duration, **fields))
    write_manifest(tmp_path / "in.jsonl", recs)
    out = tmp_path / "run"
    ok(["run", str(tmp_path / "in.jsonl"), "--plugins", "sensitive", "--set",
        "sensitive.fields=note,contacts", "--out", str(out), "--workers", "1"])
    kept = [r.id for r in read_manifest(out / "manifest.jsonl")]
    eval_only = {r.id: r for r in read_manifest(out / "eval_only.jsonl")}
    assert kept == ["clean"]
    assert set(eval_only) == set(FIELD_CASES) - {"clean"}
    where = {rid: [f["field"] for f in r.extra["sensitive"]] for rid, r in eval_only.items()}
    assert where == {"text_b": ["text_b"], "segment": ["segments[1].text"],
                     "segment_hyp": ["segments[0].hyp"], "speaker": ["speaker"],
                     "batch": ["batch"], "u_13712345678": ["id"], "note": ["note"],
                     "contacts": ["contacts"]}
    assert all(r.tags == ["sensitive:phone"] for r in eval_only.values())


def test_parameters_are_checked():
    with pytest.raises(ParamError, match="unknown kind"):
        Sensitive(kinds="phone,passport")
    assert [r.tags for r in run_stage(Sensitive(kinds="plate"),
                                      [rec("a", "给13812345678打电话")])] == [[]]


def _ids(path: Path) -> set[str]:
    """Record ids in a run manifest, and the ids of the parts packed into merged windows."""
    out = set()
    for r in read_manifest(path):
        out.add(r.id.split("#")[0])
        for p in r.extra.get("parts", []):
            out.add(p["id"].split("#")[0])
    return out


@pytest.mark.parametrize("plugins", ["sensitive,short,merge30", "short,merge30,sensitive"])
def test_demo_personal_data_lands_in_eval_only_only(tmp_path, plugins):
    res = CliRunner().invoke(app, ["run", "demo", "--plugins", plugins, "--out", str(tmp_path),
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    kept, eval_only = _ids(tmp_path / "manifest.jsonl"), _ids(tmp_path / "eval_only.jsonl")
    assert SENSITIVE_IDS <= eval_only
    assert not SENSITIVE_IDS & kept
    windows = [r for r in read_manifest(tmp_path / "eval_only.jsonl") if r.extra.get("parts")]
    if plugins.endswith("sensitive"):  # packed before the stage ran: found in the joined text
        assert any({p["id"] for p in r.extra["parts"]} & SENSITIVE_IDS for r in windows)
    for r in read_manifest(tmp_path / "eval_only.jsonl"):
        assert r.split == "eval_only" and r.has_tag("sensitive")
