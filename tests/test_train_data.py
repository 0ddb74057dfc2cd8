"""Training data: sources, weights, refusals and set-aside counts, prompts (no torch needed)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from manifests import Problems, Record, read_manifest, write_manifest
from train_adapter import data as D
from train_adapter import prompts as P
from train_adapter.families import qwen2_audio as Q2

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"


@pytest.fixture(scope="module")
def demo_records() -> list[Record]:
    return list(read_manifest(DEMO))


def _short(records, n):
    return [r for r in records if 0.1 <= r.duration <= 8 and r.text and r.hyp][:n]


def test_data_spec_weights_and_paths():
    assert D.parse_data_spec("runs/w5/abc:0.7") == (Path("runs/w5/abc"), 0.7)
    assert D.parse_data_spec("runs/w5/abc") == (Path("runs/w5/abc"), 1.0)
    assert D.parse_data_spec("runs/w5/a:b") == (Path("runs/w5/a:b"), 1.0)
    with pytest.raises(D.DataError, match="positive"):
        D.parse_data_spec("runs/x:0")


def test_demo_corpus_sets_aside_long_and_unlabelled_with_counts(demo_records):
    examples, report = D.read_source(DEMO, D.Rules(), Problems())
    over_30 = sum(r.duration > 30 and r.labelled for r in demo_records)
    unlabelled = sum(not r.labelled for r in demo_records)
    assert over_30 >= 1 and report.set_aside["too_long"] == over_30
    assert report.set_aside["no_label"] == unlabelled
    assert report.read == len(demo_records)
    assert report.kept == len(examples) == len(demo_records) - over_30 - unlabelled
    assert all(ex.duration <= 30 and ex.text for ex in examples)
    # a smaller encoder window sets aside more, never truncates
    small, report8 = D.read_source(DEMO, D.Rules(max_seconds=8), Problems())
    assert report8.set_aside["too_long"] == sum(8 < r.duration and r.labelled
                                                for r in demo_records)
    assert all(ex.duration <= 8 for ex in small)


def test_sensitive_and_eval_only_records_are_refused(tmp_path, demo_records):
    base = _short(demo_records, 6)
    records = [replace(base[0], id="plain"),
               replace(base[1], id="phone", tags=["sensitive:phone"]),
               replace(base[2], id="plate", tags=["noise:snr=7", "sensitive:plate"]),
               replace(base[3], id="evalonly", split="eval_only"),
               replace(base[4], id="test", split="test"),
               replace(base[5], id="tiny", duration=0.05)]
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    examples, report = D.read_source(manifest, D.Rules(), Problems())
    assert [ex.id for ex in examples] == ["plain"]
    assert report.set_aside == Counter(sensitive=2, eval_only=1, held_out_split=1, too_short=1)

    allowed, report = D.read_source(manifest, D.Rules(allow_sensitive=True), Problems())
    assert {ex.id for ex in allowed} == {"plain", "phone", "plate", "evalonly"}

    only_sensitive = tmp_path / "eval_only.jsonl"
    write_manifest(only_sensitive, records[1:4])
    with pytest.raises(D.DataError, match="sensitive"):
        D.load_mixture([str(only_sensitive)], D.Rules(), Problems())


def test_run_directory_and_weighted_mixing(tmp_path, demo_records):
    base = _short(demo_records, 30)
    run_a, run_b = tmp_path / "runs" / "a" / "r1", tmp_path / "b.jsonl"
    write_manifest(run_a / "manifest.jsonl", base[:20])
    write_manifest(run_a / "eval_only.jsonl", [replace(base[20], split="eval_only")])
    write_manifest(run_b, base[20:30])
    loaded, reports = D.load_mixture([f"{run_a}:0.25", f"{run_b}:0.75"], D.Rules(seed=3),
                                     Problems())
    mixture = loaded.epoch(0)
    assert [r.kept for r in reports] == [20, 10]
    # 30 examples per epoch: a quarter from a (a subset), three quarters from b (repeated)
    assert [r.sampled for r in reports] == [8, 22]
    ids_a = {r.id for r in base[:20]}
    from_a = [ex for ex in mixture if ex.id in ids_a]
    assert len(from_a) == 8 and len({ex.id for ex in from_a}) == 8
    counts_b = Counter(ex.id for ex in mixture if ex.id not in ids_a)
    assert sorted(counts_b.values()) == [2] * 8 + [3] * 2   # 2 full passes, then 2 more
    again, _ = D.load_mixture([f"{run_a}:0.25", f"{run_b}:0.75"], D.Rules(seed=3), Problems())
    assert again.epoch(0) == mixture
    with pytest.raises(D.DataError, match="without manifest.jsonl"):
        D.load_mixture([str(tmp_path / "runs")], D.Rules(), Problems())


def test_text_pairs_tsv_and_jsonl(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("u1\t导航到机厂\t导航到机场\nbroken line\nu2\t打开空调\t打开空调\n", "utf-8")
    problems = Problems()
    examples, report = D.read_source(tsv, D.Rules(task="correct"), problems)
    assert [(ex.id, ex.task, ex.hyp, ex.text, ex.audio) for ex in examples] == [
        ("u1", "correct_text", "导航到机厂", "导航到机场", None),
        ("u2", "correct_text", "打开空调", "打开空调", None)]
    assert report.set_aside["bad_line"] == 1
    assert [(p.line, "name<TAB>hyp<TAB>ref" in p.reason) for p in problems] == [(2, True)]

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"id": "j1", "hyp": "播放周杰轮", "ref": "播放周杰伦"},
                                ensure_ascii=False) + "\n" + '{"hyp": 3}\n', "utf-8")
    problems = Problems()
    examples, _ = D.read_source(jsonl, D.Rules(task="mix"), problems)
    assert [(ex.id, ex.hyp, ex.text) for ex in examples] == [("j1", "播放周杰轮", "播放周杰伦")]
    assert len(problems) == 1 and list(problems)[0].line == 2
    with pytest.raises(D.DataError, match="--task correct"):
        D.read_source(tsv, D.Rules(task="asr"), Problems())


def test_missing_audio_is_set_aside_with_the_record_id(tmp_path, demo_records):
    rec = _short(demo_records, 2)
    records = [rec[0], replace(rec[1], id="ghost", audio=str(tmp_path / "gone.flac"))]
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    problems = Problems()
    examples, report = D.read_source(manifest, D.Rules(), problems)
    assert [ex.id for ex in examples] == [rec[0].id]
    assert report.set_aside["missing_audio"] == 1
    assert [p.id for p in problems] == ["ghost"]


def test_task_mix_and_correct(demo_records, tmp_path):
    records = _short(demo_records, 40) + [replace(_short(demo_records, 41)[-1], id="nohyp",
                                                  hyp=None)]
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    mixed, _ = D.read_source(manifest, D.Rules(task="mix"), Problems())
    tasks = Counter(ex.task for ex in mixed)
    assert tasks["asr"] > 5 and tasks["correct"] > 5
    assert next(ex.task for ex in mixed if ex.id == "nohyp") == "asr"
    correct, report = D.read_source(manifest, D.Rules(task="correct"), Problems())
    assert report.set_aside["no_hyp"] == 1 and all(ex.hyp for ex in correct)


def test_prompts_defaults_override_and_saved(tmp_path):
    base = P.load(str(tmp_path / "Qwen2-Audio-7B"), family=Q2.FAMILY)
    instruct = P.load(str(tmp_path / "Qwen2-Audio-7B"), "instruct", family=Q2.FAMILY)
    assert base.style == "base" and instruct.style == "instruct"
    assert base.render("asr").startswith(Q2.AUDIO)
    assert "导航到机厂" in base.render("correct", "导航到机厂")
    assert instruct.render("asr").endswith("<|im_start|>assistant\n")
    assert "Audio 1: " + Q2.AUDIO in instruct.render("correct", "x")

    override = tmp_path / "p.json"
    override.write_text(json.dumps({"asr": Q2.AUDIO + "转写："}, ensure_ascii=False), "utf-8")
    custom = P.load(str(tmp_path / "m"), override=str(override), family=Q2.FAMILY)
    assert custom.render("asr") == Q2.AUDIO + "转写："
    assert custom.templates["correct"] == Q2.BASE["correct"]
    for bad, message in [({"asr": "no audio here"}, "exactly one"),
                         ({"correct": Q2.AUDIO + "fix it"}, "{hyp}"),
                         ({"summarise": "x"}, "unknown task")]:
        override.write_text(json.dumps(bad), "utf-8")
        with pytest.raises(P.PromptError, match=message):
            P.load(str(tmp_path / "m"), override=str(override), family=Q2.FAMILY)

    folder = tmp_path / "ckpt"
    folder.mkdir()
    custom.save(folder)
    assert P.load(str(folder), family=Q2.FAMILY).templates == custom.templates


def _pairs(path: Path, prefix: str, n: int) -> Path:
    path.write_text("".join(f"{prefix}{i}\t打开空掉\t打开空调\n" for i in range(n)), "utf-8")
    return path


def test_the_mixture_is_redrawn_each_epoch_from_a_seed(tmp_path):
    """A 0.2-weighted source of 1,000 pairs next to 200 pairs at weight 1 gives 200 examples per
    epoch (1,200 × 0.2 / 1.2); five epochs read all 1,000 once (no subset drawn once per run,
    no example twice before every one has been seen); the 1.0-weighted 200 make five passes."""
    small = _pairs(tmp_path / "small.tsv", "s", 1000)
    big = _pairs(tmp_path / "big.tsv", "b", 200)
    specs = [f"{small}:0.2", f"{big}:1"]
    rules = D.Rules(task="correct", seed=7)
    mixture, reports = D.load_mixture(specs, rules, Problems())
    assert [r.sampled for r in reports] == [200, 1000] and len(mixture) == 1200
    epochs = [[ex.id for ex in mixture.epoch(e)] for e in range(5)]
    from_small = [[i for i in ids if i.startswith("s")] for ids in epochs]
    assert all(len(ids) == len(set(ids)) == 200 for ids in from_small)
    assert len({i for ids in from_small for i in ids}) == 1000
    assert all(Counter(i for i in ids if i.startswith("b")) == Counter(
        {f"b{k}": 5 for k in range(200)}) for ids in epochs)
    again, _ = D.load_mixture(specs, rules, Problems())
    assert [[ex.id for ex in again.epoch(e)] for e in range(5)] == epochs
    other, _ = D.load_mixture(specs, replace(rules, seed=8), Problems())
    assert [ex.id for ex in other.epoch(0)] != epochs[0]
