"""End to end on the bundled demo corpus: labels against the bundled Base1 file plus a corrector
(base2) and an LLM ASR (base3) built here with known fixes, breakages and failure modes."""
import json
import re
from pathlib import Path

import jiwer
import opencc
from typer.testing import CliRunner

import curate
from curate.cli import app

DEMO = Path(curate.__file__).parent / "demo"
MARKERS = re.compile(r"【～】|～|~|\[unk\]|<unk>")


def simple_tokens(text: str) -> str:
    """An independent tokeniser for the demo's texts: lower case, punctuation to spaces, Latin
    and digit runs as words, everything else one token per character."""
    text = re.sub(r"[^\w]", " ", text.lower())
    return " ".join(re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text))


def load_demo():
    labels = {}
    for line in (DEMO / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        labels[rec["id"]] = rec.get("text") or ""
    base1 = dict(line.split("\t", 1)
                 for line in (DEMO / "base1.tsv").read_text(encoding="utf-8").splitlines())
    return labels, base1


def write_tsv(path: Path, rows: dict) -> Path:
    path.write_text("".join(f"{k}\t{v}\n" for k, v in rows.items()), encoding="utf-8")
    return path


def test_three_systems_with_correction_accounting(tmp_path):
    labels, base1 = load_demo()
    scored = [k for k, t in labels.items() if t.strip() and not MARKERS.search(t)]
    wrong = [k for k in scored if simple_tokens(base1[k]) != simple_tokens(labels[k])]
    right = [k for k in scored if k not in wrong and len(labels[k]) >= 4]
    assert len(wrong) >= 20 and len(right) >= 10

    # base2 corrects base1: fixes 60 % of its wrong utterances, breaks 5 it had right
    fixed_ids, broken_ids = wrong[: int(len(wrong) * 0.6)], right[:5]
    base2 = dict(base1)
    for k in fixed_ids:
        base2[k] = labels[k]
    for k in broken_ids:
        t = base2[k]
        base2[k] = t[0] + ("错" if t[1] != "错" else "误") + t[2:]

    # base3, an audio LLM doing ASR: right text wrapped in its usual failures
    base3 = {k: labels[k] for k in labels if labels[k].strip()}
    chatty = scored[0:6]
    for k in chatty[:4]:
        base3[k] = "好的，" + labels[k]
    for k in chatty[4:]:
        base3[k] = "转写结果：" + labels[k]
    loops = scored[6:10]
    for k in loops:
        base3[k] = labels[k] + labels[k][-2:] * 6
    missing, empty = scored[10], scored[11]
    del base3[missing]
    base3[empty] = ""
    s2t = opencc.OpenCC("s2t").convert
    traditional = next(k for k in scored[12:] if s2t(labels[k]) != labels[k])
    base3[traditional] = s2t(labels[traditional])

    out = tmp_path / "cer_report"
    result = CliRunner().invoke(app, [
        "cer", "--ref", str(DEMO / "manifest.jsonl"),
        "--hyp", f"base1={DEMO / 'base1.tsv'}",
        "--hyp", f"base2={write_tsv(tmp_path / 'corrected.tsv', base2)}",
        "--hyp", f"base3={write_tsv(tmp_path / 'llm_asr.tsv', base3)}",
        "--corrects", "base2:base1", "--show-bad", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for part in ("Profile zh:", "CER per system", "base1", "base2", "base3",
                 "Correction: base2 correcting base1", "Failure flags", "top errors"):
        assert part in result.output, part

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    planted = json.loads((DEMO / "planted.json").read_text(encoding="utf-8"))
    assert summary["reference"]["fuzzy"]["ids"] == sorted(planted["fuzzy"])
    assert summary["reference"]["empty"]["ids"] == planted["empty_label"]
    assert summary["reference"]["scored"] == len(scored)

    # base1's totals agree with jiwer over the independent tokeniser
    refs = [simple_tokens(labels[k]) for k in scored]
    j1 = jiwer.process_words(refs, [simple_tokens(base1.get(k, "")) for k in scored])
    s1 = summary["systems"]["base1"]
    assert (s1["S"], s1["D"], s1["I"]) == (j1.substitutions, j1.deletions, j1.insertions)
    assert s1["N"] == sum(len(r.split()) for r in refs)

    per_utt = [line.split("\t") for line in
               (out / "per_utt.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert len(per_utt) == 3 * len(scored)
    errors1 = {row[1]: sum(map(int, row[5:8])) for row in per_utt if row[0] == "base1"}

    c = summary["corrections"][0]
    assert (c["a"], c["b"]) == ("base1", "base2")
    assert c["fixed"] == sum(errors1[k] for k in fixed_ids)
    assert c["introduced"] == len(broken_ids) == c["broken"]
    assert c["persisted"] == s1["errors"] - c["fixed"]
    assert (c["improved"], c["degraded"], c["edited"]) == \
        (len(fixed_ids), len(broken_ids), len(fixed_ids) + len(broken_ids))
    assert summary["systems"]["base2"]["errors"] == c["errors_b"] == \
        s1["errors"] - c["fixed"] + len(broken_ids)
    assert c["oracle_cer"] <= summary["systems"]["base2"]["cer"] < s1["cer"]

    f3 = summary["systems"]["base3"]["flags"]
    assert (f3["chatty_prefix"], f3["repetition"], f3["missing"], f3["empty"],
            f3["traditional"]) == (len(chatty), len(loops), 1, 1, 1)
    assert summary["systems"]["base3"]["cer"] > summary["systems"]["base3"]["cer_missing_skipped"]
    assert {(p["a"], p["b"]) for p in summary["comparisons"]} == \
        {("base1", "base2"), ("base1", "base3"), ("base2", "base3")}
    assert all(0 < p["p_value"] <= 1 for p in summary["comparisons"])

    assert "\tsubstitution\t" in (out / "confusions.tsv").read_text(encoding="utf-8")
    view = (out / "alignment.txt").read_text(encoding="utf-8")
    assert f"== {wrong[0]}" in view and f"== {missing}" in view


def test_bare_hypothesis_file_and_input_errors(tmp_path):
    labels = write_tsv(tmp_path / "labels.tsv", {"u1": "打开空调", "u2": "导航回家"})
    hyp = write_tsv(tmp_path / "hyp.tsv", {"u1": "打开空条", "u2": "导航回家"})
    result = CliRunner().invoke(app, ["cer", "--ref", str(labels), "--hyp", str(hyp),
                                      "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "hyp" in result.output and "12.50%" in result.output
    (tmp_path / "dup.tsv").write_text("u1\ta\nu1\tb\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["cer", "--ref", str(labels), "--hyp",
                                      str(tmp_path / "dup.tsv")])
    assert result.exit_code == 2 and "duplicate" in result.output and "dup.tsv:2" in result.output
    result = CliRunner().invoke(app, ["cer", "--ref", str(labels), "--hyp", str(hyp),
                                      "--corrects", "hyp"])
    assert result.exit_code == 2 and "expected B:A" in result.output


def test_reference_by_dataset_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["cer", "--ref", "demo", "--hyp",
                                      f"base1={DEMO / 'base1.tsv'}", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    planted = json.loads((DEMO / "planted.json").read_text(encoding="utf-8"))
    labels, _ = load_demo()
    scored = len(labels) - len(planted["fuzzy"]) - len(planted["empty_label"])
    assert f"{len(labels)} utterances, {scored} scored" in result.output
    result = CliRunner().invoke(app, ["cer", "--ref", "no_such_set", "--hyp",
                                      f"base1={DEMO / 'base1.tsv'}"])
    assert result.exit_code == 2 and "no_such_set" in result.output
