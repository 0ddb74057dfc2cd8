"""CER while training: eval_cer in train.json is curate cer's score of curate infer's output from
the kept checkpoint; --save-best keeps the best one; --early-stop stops; fix/break rates."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app
from manifests import read_manifest, write_manifest
from manifests.textfile import write_name_text
from tests.cli import ok as _ok

DEMO = Path(__file__).resolve().parents[1] / "curate" / "demo" / "manifest.jsonl"
runner = CliRunner()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    """(train manifest of four short labelled demo clips, eval manifest of three others)."""
    records = [r for r in read_manifest(DEMO) if 1 < r.duration < 5 and r.text and r.hyp][:7]
    assert len(records) == 7
    folder = tmp_path_factory.mktemp("clips")
    write_manifest(folder / "train.jsonl", records[:4])
    write_manifest(folder / "eval.jsonl", records[4:])
    return folder / "train.jsonl", folder / "eval.jsonl"


def _train(clips, out: Path, *extra: str, model: str = "tiny:8") -> dict:
    train, evalset = clips
    _ok(["train", "--model", model, "--data", str(train), "--eval", str(evalset),
         "--batch-size", "2", "--logging-steps", "1", "--save-steps", "100", "--out", str(out),
         *extra])
    return json.loads((out / "train.json").read_text(encoding="utf-8"))


def _evals(record: dict, key: str = "eval_cer") -> dict[int, float]:
    return {h["step"]: h[key] for h in record["log_history"] if key in h}


def _cer(ref: Path, out: Path, *hyps: str, corrects: str | None = None) -> dict:
    _ok(["cer", "--ref", str(ref), *[a for h in hyps for a in ("--hyp", h)], "--bootstrap", "0",
         *(["--corrects", corrects] if corrects else []), "--out", str(out)])
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _train_on_itself(clips, out: Path, *extra: str) -> dict:
    """Trained 40 steps on the four training clips, evaluated on them too; its train.json."""
    train, _ = clips
    _ok(["train", "--model", "tiny:8", "--data", str(train), "--eval", str(train),
         "--max-steps", "40", "--warmup", "0", "--logging-steps", "10", "--out", str(out), *extra])
    return json.loads((out / "train.json").read_text(encoding="utf-8"))


def _best_checkpoint(record: dict, out: Path) -> tuple[dict[int, float], int, dict]:
    """The CER of each evaluation, the step of the first lowest, and train.json's ``best``, which
    must name that evaluation and its checkpoint."""
    cers = _evals(record)
    best_step = min(cers, key=lambda s: (cers[s], s))      # the first lowest
    best = record["best"]
    assert best["metric"] == "eval_cer" and best["step"] == best_step
    assert Path(best["checkpoint"]) == out / "checkpoints" / f"checkpoint-{best_step}"
    return cers, best_step, best


def _infer_gives_what_was_scored(best: dict, best_step: int, train: Path, out: Path,
                                 hyps: Path) -> None:
    """Inferring from the best checkpoint gives exactly the hypotheses its evaluation scored."""
    _ok(["infer", "--model", best["checkpoint"], "--data", str(train), "--out", str(hyps)])
    assert hyps.read_text(encoding="utf-8") == \
        (out / "eval" / f"step-{best_step}.tsv").read_text(encoding="utf-8")


def test_eval_cer_is_curate_cer_of_curate_infer_and_the_best_checkpoint_is_kept(clips, tmp_path):
    """Evaluated on its own four training clips, the model's CER falls as it learns them;
    checkpoints every 10 steps rotate (3 kept), the best one stays whatever its age."""
    train, _ = clips
    out = tmp_path / "ckpt"
    record = _train_on_itself(clips, out, "--eval-steps", "10", "--save-steps", "10",
                              "--save-best", "cer")
    cers, best_step, best = _best_checkpoint(record, out)
    assert sorted(cers) == [10, 20, 30, 40]
    assert min(cers.values()) < cers[10]                   # it learned: the metric moved
    assert best["value"] == cers[best_step]
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert len(kept) == 3 and best["checkpoint"].endswith(tuple(kept))
    assert set(kept) - {f"checkpoint-{best_step}"} <= {"checkpoint-30", "checkpoint-40"}

    # what the user does with the kept checkpoint gives the figure train.json holds
    hyps = tmp_path / "best.tsv"
    _infer_gives_what_was_scored(best, best_step, train, out, hyps)
    summary = _cer(train, tmp_path / "cer", f"best={hyps}")
    assert summary["systems"]["best"]["cer"] == best["value"]
    for step, cer in cers.items():     # every evaluation's hypotheses, scored the same way
        scored = _cer(train, tmp_path / f"cer{step}", f"m={out / 'eval' / f'step-{step}.tsv'}")
        assert scored["systems"]["m"]["cer"] == cer


def test_early_stop_after_k_evaluations_without_improvement(clips, tmp_path):
    """At lr 0 the weights never move, so greedy decoding repeats itself and the CER of every
    evaluation equals the first: with --early-stop 2, training stops at the third."""
    record = _train(clips, tmp_path / "ckpt", "--eval-steps", "1", "--max-steps", "8",
                    "--lr", "0", "--early-stop", "2")
    cers = _evals(record)
    assert sorted(cers) == [1, 2, 3] and len(set(cers.values())) == 1
    assert record["global_step"] == 3


def test_early_stop_without_save_best_names_a_checkpoint_that_holds_the_best_weights(clips,
                                                                                     tmp_path):
    """--early-stop alone follows the CER too. The --save-steps schedule saves nothing before the
    end here: train.json used to name no checkpoint for the best evaluation (or, with other
    steps, an earlier best one). Now that evaluation's checkpoint is saved and kept, and
    inferring from it gives exactly the hypotheses that evaluation scored."""
    train, _ = clips
    out = tmp_path / "ckpt"
    record = _train_on_itself(clips, out, "--eval-steps", "5", "--save-steps", "1000",
                              "--early-stop", "3")
    _, best_step, best = _best_checkpoint(record, out)
    assert best_step < 40                      # not the last step, which is always saved
    assert Path(best["checkpoint"]).is_dir()
    _infer_gives_what_was_scored(best, best_step, train, out, tmp_path / "best.tsv")


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni", "qwen3_asr"])
def test_correct_task_logs_fix_and_break_rates_against_base1(clips, tmp_path, family):
    out = tmp_path / "ckpt"
    record = _train(clips, out, "--task", "correct", "--eval-steps", "2", "--max-steps", "2",
                    model=f"tiny:{family}:8")
    base1 = tmp_path / "base1.tsv"
    write_name_text(base1, [(r.id, r.hyp) for r in read_manifest(clips[1])])
    summary = _cer(clips[1], tmp_path / "cer", f"model={out / 'eval' / 'step-2.tsv'}",
                   f"base1={base1}", corrects="model:base1")
    correction, = summary["corrections"]
    assert _evals(record, "eval_fix_rate") == {2: correction["fix_rate"]}
    assert _evals(record, "eval_break_rate") == {2: correction["over_correction_rate"]}
    assert _evals(record) == {2: summary["systems"]["model"]["cer"]}


def test_an_eval_set_without_scorable_text_is_refused_before_training(clips, tmp_path):
    unclear = tmp_path / "unclear.jsonl"
    write_manifest(unclear, [replace(r, text="【～】") for r in read_manifest(clips[1])])
    out = tmp_path / "ckpt"
    result = runner.invoke(app, ["train", "--model", "tiny:8", "--data", str(clips[0]),
                                 "--eval", str(unclear), "--max-steps", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "no reference text to score a CER on" in " ".join(result.output.split())
    assert not (out / "checkpoints").exists()


def test_a_run_directory_eval_set_generates_for_its_manifest_and_eval_only_records(tmp_path):
    """The scorer's reference for a run directory is manifest + eval_only (load_reference), so
    generation must cover both, or the eval-only records would count as all deletions."""
    from types import SimpleNamespace

    from curate.cer.inputs import load_reference
    from manifests import Problems
    from manifests.rundir import KINDS, file_name, sha256_of
    from train_adapter import data as datamod
    from train_adapter.finetune import _eval_examples

    records = [r for r in read_manifest(DEMO) if 1 < r.duration < 5 and r.text][:3]
    run = tmp_path / "run"
    write_manifest(run / "manifest.jsonl", records[:2])
    write_manifest(run / "eval_only.jsonl", [replace(records[2], split="eval_only")])
    write_manifest(run / "rejected.jsonl", [])
    (run / "run.json").write_text(json.dumps({"status": "complete", "files": {
        file_name(k): {"sha256": sha256_of(run / file_name(k))} for k in KINDS}}), "utf-8")
    found = _eval_examples(SimpleNamespace(eval_data=[str(run)]), datamod.Rules(task="asr"),
                           Problems())
    assert sorted(ex.id for ex in found) == sorted(load_reference(run).ids) == \
        sorted(r.id for r in records)


def test_fix_and_break_rates_count_only_the_records_with_a_base1_hypothesis(tmp_path):
    """--task mix: an asr-task eval record has no Base1 hypothesis; it must not count as a Base1
    error the model "fixed". Here the model fixes nothing of Base1's, so the fix rate is 0."""
    from curate.cmd_train import _cer_scorer

    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(json.dumps({"id": i, "audio": f"audio/{i}.flac", "duration": 1.0,
                                       "text": t}, ensure_ascii=False) + "\n"
                           for i, t in (("c1", "打开空调"), ("a1", "导航回家"))), "utf-8")
    hyp = tmp_path / "model.tsv"
    write_name_text(hyp, [("c1", "打开空掉"), ("a1", "导航回家")])
    scores = _cer_scorer([str(ref)])(hyp, {"c1": "打开空掉"})     # a1: an asr-task record
    assert scores["cer"] == pytest.approx(1 / 8)
    assert scores["fix_rate"] == 0 and scores["break_rate"] == 0
