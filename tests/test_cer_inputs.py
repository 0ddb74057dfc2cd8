"""Reading references (manifest, run directory, name<TAB>text) and hypotheses."""
import json

import pytest

from curate.cer.inputs import InputError, load_hypotheses, load_reference, parse_hyp_spec


def jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in rows), encoding="utf-8")
    return path


def rec(rid, text, **kw):
    return {"id": rid, "audio": f"audio/{rid}.flac", "duration": 1.0, "text": text, **kw}


def test_manifest_reference_with_a_bad_line_reported_and_skipped(tmp_path):
    p = jsonl(tmp_path / "m.jsonl", [rec("u1", "打开空调"), "{not json", rec("u2", "回家",
                                     tags=["fuzzy"]), {"text": "no id"}, rec("u3", None),
                                     '{"id": "u4", "text": "\\ud800"}'])
    r = load_reference(p)
    assert r.ids == ["u1", "u2", "u3"] and r.texts == ["打开空调", "回家", ""]
    assert r.fuzzy_tagged == {"u2"}
    assert [(x.line, x.reason) for x in r.problems][1:] == [(4, "no 'id' string"),
                                                            (6, "'text' is not valid Unicode")]
    assert r.problems.items[0].line == 2 and "not valid JSON" in r.problems.items[0].reason


def test_duplicate_reference_ids_are_an_error_naming_both_lines(tmp_path):
    p = jsonl(tmp_path / "m.jsonl", [rec("u1", "a"), rec("u2", "b"), rec("u1", "c")])
    with pytest.raises(InputError,
                       match=r"m\.jsonl:3: duplicate id 'u1' \(first at .*m\.jsonl:1\)"):
        load_reference(p)


def test_run_directory_reads_manifest_and_eval_only(tmp_path):
    jsonl(tmp_path / "manifest.jsonl", [rec("u1", "打开空调")])
    jsonl(tmp_path / "eval_only.jsonl", [rec("s1", "拨打一三八")])
    assert load_reference(tmp_path).ids == ["u1", "s1"]
    jsonl(tmp_path / "eval_only.jsonl", [rec("u1", "拨打一三八")])
    with pytest.raises(InputError, match=r"eval_only\.jsonl:1: duplicate id 'u1'.*manifest"):
        load_reference(tmp_path)


def test_empty_directory_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="run directory needs"):
        load_reference(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_reference(tmp_path / "nope.tsv")


def test_name_text_reference_and_hypotheses(tmp_path):
    (tmp_path / "labels.tsv").write_text("u1\t打开 空调 now\nu2\t好\nu3\t\nbad line\n",
                                         encoding="utf-8")
    r = load_reference(tmp_path / "labels.tsv")
    assert dict(zip(r.ids, r.texts)) == {"u1": "打开 空调 now", "u2": "好", "u3": ""}
    assert [p.line for p in r.problems] == [4]
    h = load_hypotheses(str(tmp_path / "labels.tsv"))
    assert h.name == "labels" and h.texts["u1"] == "打开 空调 now"


def test_duplicate_hypothesis_ids_are_an_error_naming_lines(tmp_path):
    (tmp_path / "h.tsv").write_text("u1\ta\nu2\tb\nu1\tc\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"h\.tsv:3 \[u1\]: duplicate id \(first on line 1\)"):
        load_hypotheses(f"base1={tmp_path / 'h.tsv'}")


def test_hypothesis_specs(tmp_path):
    assert parse_hyp_spec("base1=online.tsv") == ("base1", tmp_path.__class__("online.tsv"))
    assert parse_hyp_spec("out/llm_asr.tsv")[0] == "llm_asr"
    odd = tmp_path / "a=b.tsv"
    odd.write_text("u1\tx\n", encoding="utf-8")
    assert parse_hyp_spec(str(odd))[1] == odd  # an existing file whose name holds '='
    with pytest.raises(InputError, match="no such hypothesis file"):
        load_hypotheses("base1=missing.tsv")


def test_name_text_lines_read_alike_with_and_without_a_non_utf8_line(tmp_path):
    """A file is decoded in one piece, or line by line when a line is not UTF-8: either way the
    same texts and problems, lines end at newlines only, and every line keeps its number."""
    from manifests.problems import Problems
    from manifests.textfile import read_name_text

    lines = ["\ufeffu1\t打开 空调\r",    # 1 BOM, CRLF, a space inside the text
             "",                          # 2 blank (a GBK line in the second file)
             "  u2 \t\r",                 # 3 empty text, name padded
             "u3\t a\tb\rc\u2028d ",      # 4 a tab, CR and line separator inside the text
             "no tab here",               # 5
             "u1\tagain",                 # 6 repeated id: the first is kept
             "u4\t回家"]                # 7 no newline at the end
    clean = tmp_path / "clean.tsv"
    clean.write_bytes("\n".join(lines).encode("utf-8"))
    mixed = tmp_path / "mixed.tsv"
    mixed.write_bytes(clean.read_bytes().replace(b"\r\n\n", b"\r\nu5\t" + "导航".encode("gbk")
                                                 + b"\n", 1))
    expected = {"u1": "打开 空调", "u2": "", "u3": "a\tb\rc\u2028d", "u4": "回家"}
    for path, bad_lines in ((clean, []), (mixed, [(2, None, "not UTF-8")])):
        problems = Problems()
        assert read_name_text(path, problems) == expected
        assert [(p.line, p.id, p.reason) for p in problems] == bad_lines + [
            (5, "no tab here", "no tab between name and text"),
            (6, "u1", "duplicate id (first on line 1)")]
