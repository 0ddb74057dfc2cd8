"""The experiment board: curate infer's provenance sidecar, curate cer --board (append-only,
latest result wins) and curate board (table, filters, p-values against a baseline, TSV)."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import curate
from curate.cer import board as B
from curate.cli import app
from manifests import Problems
from manifests.textfile import read_name_text

DEMO = Path(curate.__file__).parent / "demo"


def _ok(args) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def _board_rows(workspace: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in
            (workspace / ".curate" / "boards" / f"{name}.jsonl").read_text("utf-8").splitlines()]


def _small_manifest(tmp_path: Path, count: int = 10) -> Path:
    """The first demo records, their audio paths made absolute (a manifest anywhere)."""
    out = []
    for line in (DEMO / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[:count]:
        rec = json.loads(line)
        rec["audio"] = str(DEMO / rec["audio"])
        out.append(json.dumps(rec, ensure_ascii=False))
    path = tmp_path / "held.jsonl"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _tsv(path: Path, rows: dict) -> Path:
    path.write_text("".join(f"{k}\t{v}\n" for k, v in rows.items()), encoding="utf-8")
    return path


def test_infer_sidecars_on_the_board_and_a_rescore_replaces(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORKSPACE", str(tmp_path))
    held = _small_manifest(tmp_path)
    ckpt = tmp_path / "ckpt"
    _ok(["train", "--model", "tiny:8", "--data", str(held), "--stage", "sft", "--max-steps", "2",
         "--save-steps", "1", "--out", str(ckpt)])
    # two checkpoints of one run: the final model (step 2) and checkpoints/checkpoint-1
    hyps = {}
    for name, model in (("final", ckpt), ("step1", ckpt / "checkpoints" / "checkpoint-1")):
        hyps[name] = tmp_path / f"{name}.tsv"
        _ok(["infer", "--model", str(model), "--data", str(held), "--tokens-per-second", "1",
             "--out", str(hyps[name])])
    side = json.loads((tmp_path / "final.tsv.json").read_text(encoding="utf-8"))
    assert side["model"]["family"] == "Qwen2-Audio" and side["model"]["step"] == 2
    assert side["model"]["path"] == str(ckpt.resolve())
    assert side["model"]["train"]["recipe"]["stage"] == "sft"
    assert side["model"]["train"]["data"] == [str(held)]
    assert side["task"] == "asr" and side["prompt_style"] in ("base", "instruct")
    assert side["decoding"]["strategy"] == "greedy" and side["decoding"]["tokens_per_second"] == 1
    from manifests.rundir import sha256_of
    assert side["data"][0]["files"][0]["sha256"] == sha256_of(held)
    assert side["code"]["curate"] == curate.__version__
    assert json.loads((tmp_path / "step1.tsv.json").read_text("utf-8"))["model"]["step"] == 1

    base1_all = read_name_text(DEMO / "base1.tsv", Problems())
    ids = list(read_name_text(hyps["final"], Problems()))
    base1 = _tsv(tmp_path / "base1.tsv", {k: base1_all[k] for k in ids if k in base1_all})
    score = ["cer", "--ref", str(held), "--hyp", f"base1={base1}",
             "--hyp", f"final={hyps['final']}", "--hyp", f"step1={hyps['step1']}",
             "--eval-name", "held", "--board", "wk48", "--bootstrap", "200"]
    out = _ok(score)
    assert "3 result(s) on eval set held" in out
    rows = _board_rows(tmp_path, "wk48")
    assert [r["system"] for r in rows] == ["base1", "final", "step1"]
    assert rows[0]["provenance"] is None                  # a hyp file made elsewhere
    assert rows[1]["provenance"]["model"]["step"] == 2
    assert rows[2]["provenance"]["model"]["step"] == 1

    table = _ok(["board", "wk48"])
    for part in ("held", "base1", "final", "step1", "(no sidecar)", "sft", str(ckpt.resolve())):
        assert part in table, part

    # a rescore of base1 (say, its file was fixed) replaces its row
    fixed = dict(read_name_text(base1, Problems()))
    fixed[next(iter(fixed))] = "完全不同的文字"
    _tsv(base1, fixed)
    _ok(score[:5] + ["--eval-name", "held", "--board", "wk48", "--bootstrap", "200"])
    assert len(_board_rows(tmp_path, "wk48")) == 4      # appended, never rewritten
    current = B.read(tmp_path / ".curate" / "boards" / "wk48.jsonl")
    assert current.replaced == 1
    assert sorted(r["system"] for r in current.rows) == ["base1", "final", "step1"]
    latest = next(r for r in current.rows if r["system"] == "base1")
    assert latest == _board_rows(tmp_path, "wk48")[-1]

    tsv = tmp_path / "board.tsv"
    _ok(["board", "wk48", "--tsv", str(tsv)])
    lines = [line.split("\t") for line in tsv.read_text(encoding="utf-8").splitlines()]
    header, body = lines[0], lines[1:]
    assert len(body) == 3
    got = {row[header.index("system")]: dict(zip(header, row)) for row in body}
    assert float(got["base1"]["cer"]) == latest["cer"]
    assert got["final"]["step"] == "2" and got["step1"]["step"] == "1"
    assert got["base1"]["model"] == ""

    # a hypothesis file edited after curate infer: its sidecar no longer describes it
    edited = dict(read_name_text(hyps["final"], Problems()))
    edited[next(iter(edited))] = "改过"
    _tsv(hyps["final"], edited)
    out = _ok(["cer", "--ref", str(held), "--hyp", f"final={hyps['final']}",
               "--eval-name", "held", "--board", "wk48", "--bootstrap", "0"])
    assert "describes another version" in out
    assert _board_rows(tmp_path, "wk48")[-1]["provenance"] is None


def _score(tmp_path, board, *extra):
    labels = {}
    for line in (DEMO / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        labels[rec["id"]] = rec.get("text") or ""
    base1 = read_name_text(DEMO / "base1.tsv", Problems())
    fixer = dict(base1)
    for k in list(fixer)[:40]:   # base2 fixes base1 on the first 40 utterances
        fixer[k] = labels[k]
    base2 = _tsv(tmp_path / "base2.tsv", fixer)
    return _ok(["cer", "--ref", "demo", "--hyp", f"base1={DEMO / 'base1.tsv'}",
                "--hyp", f"base2={base2}", "--corrects", "base2:base1", "--board", board,
                "--bootstrap", "300", "--seed", "4", *extra])


def test_board_p_values_are_the_scorers_and_corrections_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORKSPACE", str(tmp_path))
    out = tmp_path / "cer"
    _score(tmp_path, "b", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = B.read(tmp_path / ".curate" / "boards" / "b.jsonl").rows
    # the same resamples (same seed, count and utterances) as curate cer drew: the same p-value
    p = B.p_values(rows, "base1")
    key = B.eval_key(rows[0])
    assert p[key, "base2"] == summary["comparisons"][0]["p_value"]
    for r in rows:
        s = summary["systems"][r["system"]]
        assert (r["N"], r["S"], r["D"], r["I"], r["cer"], r["cer_ci95"], r["missing"],
                r["empty"]) == (s["N"], s["S"], s["D"], s["I"], s["cer"], s["cer_ci95"],
                                s["missing"], s["empty"])
    c = summary["corrections"][0]
    kept = next(r for r in rows if r["system"] == "base2")["correction"]
    assert kept == {"corrects": "base1", "fix_rate": c["fix_rate"],
                    "break_rate": c["over_correction_rate"],
                    "relative_cer_reduction": c["relative_cer_reduction"],
                    "cer_a": c["cer_a"], "cer_b": c["cer_b"]}
    table = _ok(["board", "b", "--baseline", "base1"])
    assert "baseline" in table and "correction accounting" in table
    assert "★" in table
    shown = f"p={summary['comparisons'][0]['p_value']:.3f}"
    assert shown in table or f"p={summary['comparisons'][0]['p_value']:.1e}" in table


def test_filters_escaping_and_a_torn_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORKSPACE", str(tmp_path))
    _score(tmp_path, "b", "--eval-name", "[bold]held[/]")
    _score(tmp_path, "b", "--eval-name", "noisy")
    path = tmp_path / ".curate" / "boards" / "b.jsonl"
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"board": 1, "system": "hand-made", "eval": {"name": "x", "fingerprint": "0", '
                '"scoring": {"digest": "0"}}, "cer": 0.1}\n')  # not what curate cer writes
        f.write('{"board": 1, "eval": {"name": "x"')        # a crash mid-line
    _score(tmp_path, "b", "--eval-name", "sensitive")       # starts on a fresh line
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["eval"]["name"] == "sensitive"

    table = _ok(["board", "b"])
    assert f"{path}:5: not a board record" in table  # reported, skipped
    assert f"{path}:6" in table and "torn line" in table
    assert "hand-made" not in table
    assert "[bold]held[/]" in table                       # printed as it is
    result = CliRunner().invoke(app, ["board", "b", "--eval", "no*", "--eval", "sens*",
                                      "--system", "*2", "--tsv", "-"])
    assert result.exit_code == 0, result.output
    only = [line.split("\t") for line in result.stdout.splitlines()]
    assert only[0][:4] == ["eval", "eval_fingerprint", "scoring", "system"]
    assert sorted((row[0], row[3]) for row in only[1:]) == [("noisy", "base2"),
                                                            ("sensitive", "base2")]
    result = CliRunner().invoke(app, ["board", "b", "--system", "nothing*"])
    assert result.exit_code == 1 and "no result matches" in result.output
    result = CliRunner().invoke(app, ["board", "b", "--baseline", "base9"])
    assert result.exit_code == 2 and "no such system" in result.output
    result = CliRunner().invoke(app, ["board", "nope"])
    assert result.exit_code == 2 and "no such board" in result.output
    result = CliRunner().invoke(app, ["board", "../x"])
    assert result.exit_code == 2 and "board name" in result.output


def test_a_board_line_names_its_eval_set_by_content(tmp_path):
    """The same references in another file format are the same eval set; other texts are not."""
    from curate.cer.inputs import load_reference

    a = _tsv(tmp_path / "a.tsv", {"u1": "打开空调", "u2": "导航回家"})
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": "u1", "text": "打开空调"}\n{"id": "u2", "text": "导航回家"}\n',
                     encoding="utf-8")
    other = _tsv(tmp_path / "b.tsv", {"u1": "打开空调", "u2": "导航去公司"})
    fp = [B.reference_fingerprint(load_reference(p)) for p in (a, jsonl, other)]
    assert fp[0] == fp[1] != fp[2]


@pytest.mark.parametrize("errors", [[0, 3, -1, 70000], list(range(-1, 500))])
def test_per_utterance_counts_round_trip(errors):
    import numpy as np
    assert B._unpack(B._pack(np.array(errors))).tolist() == errors


def test_checkpoint_info_finds_the_training_record(tmp_path):
    from curate.cer.provenance import checkpoint_info

    run = tmp_path / "ckpt"
    (run / "adapter").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (run / "train.json").write_text(json.dumps(
        {"task": "correct", "recipe": {"stage": "sft", "lora": {"r": 8}}, "global_step": 9,
         "log_history": [{"loss": 1.0}]}), encoding="utf-8")
    (run / "adapter" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/models/Qwen2-Audio-7B"}), encoding="utf-8")
    (run / "checkpoints" / "checkpoint-3" / "trainer_state.json").write_text(
        json.dumps({"global_step": 3}), encoding="utf-8")
    final = checkpoint_info(run)
    assert final["step"] == 9 and final["train"]["recipe"]["lora"] == {"r": 8}
    assert "log_history" not in final["train"]
    merged = checkpoint_info(run / "adapter")          # curate train --merge-lora's adapter
    assert merged["step"] == 9 and merged["base_model"] == "/models/Qwen2-Audio-7B"
    mid = checkpoint_info(run / "checkpoints" / "checkpoint-3")
    assert mid["step"] == 3 and mid["train"]["task"] == "correct"
    other = tmp_path / "downloaded"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "qwen2_audio"}', encoding="utf-8")
    assert checkpoint_info(other) == {"model_type": "qwen2_audio"}  # not from curate train
    from curate.cer.board import _recipe_text
    assert _recipe_text(final["train"], final["train"]["recipe"]) == "sft · lora r=8"
