"""``curate cer`` scores eval_only.jsonl, the records holding personal data: its terminal report
and every file of ``--out`` (and the board) show them masked, while the figures are those of the
raw texts."""
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from curate.cer import Settings, evaluate, load_hypotheses, load_reference
from curate.cer.view import width
from curate.cli import app

# id, reference, hypothesis (None: no hypothesis line), the numbers the texts hold as they are
# written there (spoken or digits): none may be shown
CASES = [
    ("tel1", "给13812345678打电话", "好的，给1381234567打电话",  # misses a digit, flagged
     ["13812345678", "1381234567"]),
    ("tel2", "拨打幺三八零零幺三八零零零", "拨打要三八零零幺三八零零零",  # ASR: 幺 → 要
     ["幺三八零零幺三八零零零", "要三八零零幺三八零零零"]),
    ("tel3", "我的手机号是139 1234 5678", "我的手机号是139 1234 5673",
     ["13912345678", "13912345673"]),
    ("tel4", "幺五零 嗯 幺二三四 五六七八 是我的号", "幺五零嗯幺二三四五六七九是我的号",
     ["幺五零幺二三四五六七八", "幺五零幺二三四五六七九"]),
    ("tel5", "打给幺五一杠二二三三杠四四五五", "打给幺五一二二三三四四五五",
     ["幺五一二二三三四四五五"]),
    ("id1", "我的身份证号是110105199003072316", "我的身份证号是110105199003072318",
     ["110105199003072316", "110105199003072318"]),
    ("id2", "身份证号幺幺零幺零五幺九九零零三零七二三幺六", "身份证号幺幺零幺零五幺九九零零三零七二三幺",
     ["幺幺零幺零五幺九九零零三零七二三幺六"]),
    ("card", "卡号6222021234567890123", "卡号6222021234567890128",
     ["6222021234567890123", "6222021234567890128"]),
    ("plate1", "车牌是京A12345", "转写结果：车牌是京A12845", ["京A12345", "京A12845"]),
    ("plate2", "我的车是京 A 1 2 3 4 5", "我的车是京 A 1 2 8 4 5", ["京A12345", "京A12845"]),
    ("13712345678-call", "打开空调", "好的，打开空条", ["13712345678"]),  # a phone as id
    ("temp", "把温度调到二十四度", "把温度调到二十五度", []),
]
HYP_ONLY = "15912345678"     # a hypothesis id without reference
BAD_REF_ID = "13612345678"   # a reference line set aside, its id in the problem
BAD_HYP_LINE = "15812345678"  # a hypothesis line without a tab
SECRETS = [n for *_, numbers in CASES for n in numbers] + [HYP_ONLY, BAD_REF_ID, BAD_HYP_LINE]
WINDOW = 5  # a mask keeps at most 4 digits in a row visible (138****5678): 5 never show


def _digits(text: str) -> str:
    """What is left of a text to compare: no whitespace, dashes or spoken dashes, one case."""
    return re.sub(r"[\s\-杠]", "", text).lower()


def _leaks(text: str) -> list[str]:
    seen = _digits(text)
    out = []
    for secret in SECRETS:
        s = _digits(secret)
        out += [s[k:k + WINDOW] for k in range(len(s) - WINDOW + 1) if s[k:k + WINDOW] in seen]
    return out


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    ref = tmp_path / "eval_only.jsonl"
    lines = [json.dumps({"id": rid, "text": text}, ensure_ascii=False)
             for rid, text, _, _ in CASES]
    lines.append(json.dumps({"id": BAD_REF_ID, "text": 5}))
    ref.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hyp = tmp_path / "base1.tsv"
    rows = [f"{rid}\t{h}" for rid, _, h, _ in CASES] + [f"{HYP_ONLY}\t打电话", BAD_HYP_LINE]
    hyp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return ref, hyp


def _invoke(args) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_cer_shows_and_writes_personal_data_masked_and_scores_raw(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORKSPACE", str(tmp_path))
    ref, hyp = _inputs(tmp_path)
    out = tmp_path / "report"
    stdout = _invoke(["cer", "--ref", str(ref), "--hyp", f"base1={hyp}", "--bootstrap", "0",
                      "--show-bad", "20", "--out", str(out), "--board", "b"])
    files = {p.name: p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()}
    assert set(files) == {"summary.json", "per_utt.tsv", "confusions.tsv", "alignment.txt",
                          "report.html"}
    board_file = tmp_path / ".curate" / "boards" / "b.jsonl"
    board_out = _invoke(["board", "b", "--tsv", str(tmp_path / "board.tsv"),
                         "--html", str(tmp_path / "board.html")])
    shown = {"stdout": stdout, **files, "board.jsonl": board_file.read_text(encoding="utf-8"),
             "curate board": board_out,
             "board.tsv": (tmp_path / "board.tsv").read_text(encoding="utf-8"),
             "board.html": (tmp_path / "board.html").read_text(encoding="utf-8")}
    for name, text in shown.items():
        assert _leaks(text) == [], name

    # what was masked is still there, masked: texts, ids, problems
    for name in ("stdout", "per_utt.tsv", "alignment.txt"):
        text = _digits(shown[name])
        for masked in ("138****5678", "110***********2316", "6222***********0123",
                       "137****5678-call" if name != "alignment.txt" else "137****5678"):
            assert _digits(masked) in text, (name, masked)
    assert "京a***45" in _digits(shown["per_utt.tsv"])
    assert "京A***45" in stdout  # the flagged-utterances table shows the raw text, masked
    summary = json.loads(files["summary.json"])
    assert summary["systems"]["base1"]["hyp_ids_without_reference"]["ids"] == ["159****5678"]
    assert any("[136****5678]" in p for p in summary["reference"]["problems"])
    assert any("158****5678" in p for p in summary["systems"]["base1"]["problems"])
    assert "159****5678" in stdout and "136****5678" in stdout and "158****5678" in stdout
    # ordinary numbers and words are not masked
    for name in ("stdout", "per_utt.tsv", "alignment.txt", "confusions.tsv"):
        assert "五" in shown[name] and "条" in shown[name], name
    assert "把温度调到二十五度" in files["per_utt.tsv"]

    # masking changed what is shown only: the counts are an unmasked scoring's
    ev = evaluate(load_reference(ref), [load_hypotheses(f"base1={hyp}")], Settings(resamples=0))
    sr, s1 = ev.systems["base1"], summary["systems"]["base1"]
    assert (s1["S"], s1["D"], s1["I"], s1["N"]) == (int(sr.S.sum()), int(sr.D.sum()),
                                                    int(sr.I.sum()), int(ev.n.sum()))
    assert s1["S"] and s1["D"] and s1["I"]  # every kind of edit was masked somewhere
    rows = [line.split("\t") for line in files["per_utt.tsv"].splitlines()[1:]]
    assert [[int(x) for x in r[4:8]] for r in rows] == \
        [[int(ev.n[k]), int(sr.S[k]), int(sr.D[k]), int(sr.I[k])] for k in range(len(ev.ids))]
    kinds = {"substitution": 0, "deletion": 0, "insertion": 0}
    for line in files["confusions.tsv"].splitlines()[1:]:
        kinds[line.split("\t")[1]] += int(line.split("\t")[4])
    assert (kinds["substitution"], kinds["deletion"], kinds["insertion"]) == \
        (s1["S"], s1["D"], s1["I"])
    assert "\tsubstitution\t138****5678\t**********\t1\tmasked" in files["confusions.tsv"]
    assert "\tsubstitution\t空\t空\t" not in files["confusions.tsv"]
    assert "\tsubstitution\t调\t条\t1\tyes" in files["confusions.tsv"]


def test_report_html_shows_no_more_than_the_other_files(tmp_path):
    ref, hyp = _inputs(tmp_path)
    out = tmp_path / "report"
    _invoke(["cer", "--ref", str(ref), "--hyp", f"base1={hyp}", "--bootstrap", "0",
             "--out", str(out)])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert _leaks(page) == []
    assert "138****5678" in page and "110***********2316" in page


def test_masked_alignment_still_lines_up(tmp_path):
    ref, hyp = _inputs(tmp_path)
    out = tmp_path / "report"
    _invoke(["cer", "--ref", str(ref), "--hyp", f"base1={hyp}", "--bootstrap", "0",
             "--out", str(out)])
    lines = (out / "alignment.txt").read_text(encoding="utf-8").splitlines()
    blocks = [(lines[k][len("  REF: "):], lines[k + 1][len("  HYP: "):], lines[k + 2][7:])
              for k in range(len(lines)) if lines[k].startswith("  REF: ")]
    assert len(blocks) == len(CASES)  # every case has an edit
    assert any("*" in r for r, _, _ in blocks) and any("*" in h for _, h, _ in blocks)
    for ref_line, hyp_line, op_line in blocks:
        marks = _starts(op_line)
        assert marks, op_line
        for col in marks:  # each op letter stands under the start of a cell in both lines
            for line in (ref_line, hyp_line):
                starts = _starts(line)
                assert col in starts, (line, op_line)


def _starts(line: str) -> set[int]:
    """Display columns where a non-space run of ``line`` (a cell) starts."""
    out, pos, prev = set(), 0, " "
    for ch in line:
        if ch != " " and prev == " ":
            out.add(pos)
        pos += width(ch)
        prev = ch
    return out


def test_an_input_error_names_its_ids_masked(tmp_path):
    ref = tmp_path / "eval_only.jsonl"
    ref.write_text("".join(json.dumps({"id": BAD_REF_ID, "text": t}, ensure_ascii=False) + "\n"
                           for t in ("打开空调", "关闭空调")), encoding="utf-8")
    hyp = tmp_path / "base1.tsv"
    hyp.write_text(f"{BAD_REF_ID}\t打开空调\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["cer", "--ref", str(ref), "--hyp", str(hyp)])
    assert result.exit_code == 2
    assert "duplicate id '136****5678'" in result.output
    assert _leaks(result.output) == []


def test_report_html_gives_no_player_for_audio_whose_file_name_holds_personal_data(tmp_path):
    ref = tmp_path / "manifest.jsonl"
    rows = [{"id": "13812345678", "audio": "audio/13812345678.flac", "duration": 1.0,
             "text": "打开空调"},
            {"id": "plain", "audio": "audio/plain.flac", "duration": 1.0, "text": "导航回家"}]
    ref.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    hyp = tmp_path / "base1.tsv"
    hyp.write_text("13812345678\t打开空条\nplain\t导航回家\n", encoding="utf-8")
    out = tmp_path / "report"
    _invoke(["cer", "--ref", str(ref), "--hyp", f"base1={hyp}", "--bootstrap", "0",
             "--out", str(out)])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "13812345678" not in page and "138****5678" in page
    assert "Audio withheld for 1 utterance(s)" in page
    assert "audio/plain.flac" in page                  # an ordinary file name keeps its player
