"""Report files and the alignment view (wide characters are two columns)."""
import csv
import json

from rich.console import Console

from curate.cer.align import align
from curate.cer.confusions import collect, homophones
from curate.cer.evaluate import Settings, evaluate
from curate.cer.inputs import Hypotheses, Reference
from curate.cer.outputs import alignment_text, write_all
from curate.cer.report import print_report
from curate.cer.units import Vocabulary, tokenize
from curate.cer.view import columns, render, width
from manifests.problems import Problems


def token_at(line: str, col: int) -> str:
    """The character drawn starting at display column ``col``."""
    pos = 0
    for ch in line:
        if pos == col:
            return ch
        pos += width(ch)
    return ""


def display_col(line: str, target: str) -> int:
    return width(line[:line.index(target)])


def op_columns(op_line: str):
    pos, out = 0, []
    for ch in op_line:
        if ch != " ":
            out.append((pos, ch))
        pos += width(ch)
    return out


def test_alignment_view_puts_each_op_under_its_tokens():
    vocab = Vocabulary()
    ref, hyp = tokenize(["打开gps导航", "打开g导航吧"], "mixed", vocab)
    ref_line, hyp_line, op_line = render(columns(ref, hyp, align(ref, hyp), decode=vocab.decode))
    marks = op_columns(op_line)
    assert [m for _, m in marks] == ["S", "I"]
    (s_col, _), (i_col, _) = marks
    assert (token_at(ref_line, s_col), token_at(hyp_line, s_col)) == ("g", "g")  # gps / g
    assert (token_at(ref_line, i_col), token_at(hyp_line, i_col)) == ("*", "吧")
    assert width("吧") == 2 and width("g") == 1
    # the tokens after the substitution start at the same display column in both lines
    for ch in "导航":
        assert display_col(ref_line, ch) == display_col(hyp_line, ch) > s_col


def test_homophones_and_confusion_counts():
    assert homophones("在", "再") and homophones("是", "十") and not homophones("开", "关")
    assert not homophones("a", "b")
    conf = collect(["在家里"], ["再家"], [[("replace", 0, 0), ("delete", 2, 2)]], [True])
    assert conf.substitutions == {("在", "再"): 1} and conf.deletions == {"里": 1}
    assert conf.homophone_share() == 1.0


def small_evaluation():
    r = Reference("labels.tsv", ["u1", "u2", "u3", "u4"],
                  ["在家里[unk]", "打开空调", "导航回家", "播放音乐"])
    a = Hypotheses("base1", "b1.tsv", {"u2": "打开空条", "u3": "导航会家", "u4": "播放音乐"},
                   Problems())
    b = Hypotheses("base2", "b2.tsv", {"u2": "打开空调", "u3": "好的，导航回家", "u4": "播放音乐"},
                   Problems())
    return evaluate(r, [a, b], Settings(corrects=(("base2", "base1"),), resamples=100,
                                        fuzzy="strip"))


def test_files_written_and_consistent(tmp_path):
    ev = small_evaluation()
    paths = write_all(ev, tmp_path / "report")
    assert [p.name for p in paths] == ["summary.json", "per_utt.tsv", "confusions.tsv",
                                       "alignment.txt", "report.html"]
    summary = json.loads(paths[0].read_text(encoding="utf-8"))
    assert summary["profile"]["name"] == "zh" and "t2s" in summary["profile"]["description"]
    assert summary["reference"]["fuzzy"] == {"mode": "strip", "count": 1, "ids": ["u1"]}
    b1 = summary["systems"]["base1"]
    # u1 missing: 3 deletions; u2, u3: one substitution each; N = 3 + 4 + 4 + 4
    assert (b1["N"], b1["S"], b1["D"], b1["I"], b1["missing"]) == (15, 2, 3, 0, 1)
    assert b1["cer_missing_skipped"] == 2 / 12
    assert summary["corrections"][0]["fixed"] == 2
    assert summary["systems"]["base2"]["flags"]["chatty_prefix"] == 1
    assert "deletion first, then an insertion" in summary["tie_break"]
    assert summary["bootstrap"] == {"resamples": 100, "seed": 0, "confidence": 0.95}
    rows = list(csv.DictReader(paths[1].open(encoding="utf-8"), delimiter="\t"))
    assert len(rows) == 8 and list(rows[0]) == ["system", "id", "ref", "hyp", "N", "S", "D", "I",
                                               "CER", "flags"]
    row = next(r for r in rows if r["system"] == "base1" and r["id"] == "u1")
    assert (row["ref"], row["hyp"], row["D"], row["CER"], row["flags"]) == \
        ("在家里", "", "3", "1.0000", "missing")
    conf = paths[2].read_text(encoding="utf-8")
    assert "base1\tsubstitution\t调\t条\t1\tyes" in conf
    view = paths[3].read_text(encoding="utf-8")
    assert "== u2" in view and "REF: 打 开 空 调" in view and "== u4" not in view


def test_terminal_report_prints_profile_tables_and_correction():
    ev = small_evaluation()
    console = Console(record=True, width=100)
    print_report(ev, console, show_bad=2)
    text = console.export_text()
    for part in ("Profile zh:", "CER per system", "base1", "base2", "Paired bootstrap",
                 "Correction: base2 correcting base1", "Failure flags", "chatty_prefix",
                 "flagged utterances", "1 references (--fuzzy strip"):
        assert part in text, part


def test_alignment_view_of_wildcards():
    """An unclear span shows as one ～ column over what it absorbed (u1: the word token gps; u2:
    nothing), before the edits at the same hypothesis position; later tokens still line up."""
    r = Reference("labels.tsv", ["u1", "u2"], ["给～打电话", "给～打电话"])
    a = Hypotheses("a", "a.tsv", {"u1": "给GPS打个电话", "u2": "给达电话"}, Problems())
    ev = evaluate(r, [a], Settings(fuzzy="wildcard", resamples=0))
    view = alignment_text(ev).split("\n")

    def block(rid):
        start = view.index(f"== {rid}") + 1
        return view[start:start + 4]

    assert block("u1") == ["a  S=0 D=0 I=1  CER 25.0%",
                           "  REF: 给 ～  打 ** 电 话",
                           "  HYP: 给 gps 打 个 电 话",
                           "          ~      I"]
    assert block("u2") == ["a  S=1 D=0 I=0  CER 25.0%",
                           "  REF: 给 ～ 打 电 话",
                           "  HYP: 给 ** 达 电 话",
                           "          ~  S"]
    for ref_line, hyp_line, op_line in (block("u1")[1:], block("u2")[1:]):
        assert display_col(ref_line, "电") == display_col(hyp_line, "电")
        assert op_columns(op_line)[0][1] == "~"


def test_report_data_aligns_masks_and_marks_wildcards(tmp_path):
    from curate.cer.html import page_data
    from curate.cer.view import Masker, Shown
    from curate.checks.pii import redact_text

    masker = Masker(redact_text)
    tokens = ["给", "13812345678", "打", "电", "话"]
    assert masker.tokens(tokens, "给13812345678打电话") == ["给", "138****5678", "打", "电", "话"]
    assert masker.tokens(["打", "开"], "打开") == ["打", "开"]
    # personal data the tokens no longer show to the masker: every token is starred
    assert Masker(lambda t: "#" * len(t) if "x" in t else t).tokens(["a", "b"], "x") == \
        ["*", "*"]

    r = Reference("ref.tsv", ["u1", "u2"], ["打开【～】空调", "给13812345678打电话"])
    hyp = Hypotheses("base1", "h.tsv", {"u1": "打开那个空调", "u2": "给13812345679打电话"},
                     Problems())
    ev = evaluate(r, [hyp], Settings(fuzzy="wildcard", resamples=0))
    data = page_data(ev, tmp_path, Shown(ev, redact_text))
    u1, u2 = data["utts"]
    assert u1[4][0][5] == ["打开", ["~", "～", "那个"], "空调"]  # the wildcard absorbed 那个
    assert u2[3] == "给138****5678打电话"
    assert u2[4][0][:3] == [1, 0, 0]
    assert u2[4][0][5] == ["给", ["S", "138****5678", "138****5679"], "打电话"]
    assert "1381234567" not in json.dumps(data, ensure_ascii=False)
