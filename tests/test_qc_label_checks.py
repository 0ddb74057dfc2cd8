"""Label checks on text alone."""
import pytest

from curate.cer import pair
from curate.checks import labels as L


@pytest.mark.parametrize("text, codes", [
    ("打开空调，调到24℃。", []),
    ("播放Taylor Swift的歌", []),
    ("æ‰“å¼€ç©ºè°ƒ", ["U+00E6", "U+20AC"]),        # UTF-8 read as Latin-1/cp1252
    ("打开\x07空调", ["U+0007"]),
    ("打开�空调", ["U+FFFD"]),
    ("好的😀", ["U+1F600"]),
    ("打开\ue000空调", ["U+E000"]),
])
def test_bad_chars(text, codes):
    found = L.bad_chars(text)
    assert all(c in found for c in codes) and (found == [] if not codes else found), found
    assert L.bad_chars("好的😀", allowed="😀") == []


def test_char_name_names_the_character():
    assert L.char_name("U+FFFD") == "U+FFFD REPLACEMENT CHARACTER"


def test_punctuation_widths_ignore_numbers_and_markers():
    assert L.punct_widths("好的，我知道了.") == (1, 1)
    assert L.punct_widths("调到3.5公里，8:30出发，1,000元。") == (3, 0)
    assert L.punct_widths("播放[unk]的歌") == (0, 0)


def test_mixed_numerals_are_digits_next_to_chinese_numerals():
    assert L.mixed_numerals("温度调到3十五度") == ["3十五"]
    # magnitudes after digit groups are the usual written style, not a mixed number
    assert L.mixed_numerals("月薪1万5，预算2亿5000万，3千米") == []
    assert L.mixed_numerals("万5") == ["万5"] and L.mixed_numerals("1万五") == ["1万五"]
    assert L.mixed_numerals("二0二四年，２０二四年") == ["二0二四", "２０二四"]
    assert L.mixed_numerals("调到十5度") == ["十5"]
    # Both scripts in one label, but never in one number (issue 12's real labels).
    assert L.mixed_numerals("万人敬仰的燕之屋专注26年") == []
    assert L.mixed_numerals("别三心二意，左边是8号线") == []
    assert L.mixed_numerals("调到22度然后风量三档") == []
    # The written style for large numbers, and numeral words that are no number.
    assert L.mixed_numerals("3万人，2亿元，5千米") == []
    assert L.mixed_numerals("万一3点堵车") == []
    assert L.mixed_numerals("二十二度") == []


def test_speech_units():
    assert L.speech_units("打开空调") == 4
    assert L.speech_units("播放Taylor Swift的歌") == 6
    assert L.speech_units("调到22度") == 5
    assert L.speech_units("播放【～】的歌，好吗？") == 6


PAIRS = [("打开空调。", "打开 空调"), ("打开车窗然后把空调温度调到二十二度", "打开车窗"),
         ("开启车窗", "開啟車窗"),                 # traditional script: the same words
         ("打开GPS导航", "打开 gps 导航"), ("导航到3号线", "导航到三号线"),
         ("我想去【～】那个地方", "我想去北京那个地方"), ("播放Taylor Swift的歌", "播放泰勒的歌"),
         ("ＡＢＣ", "abc")]


def test_qc_cer_is_the_cer_that_curate_cer_prints(tmp_path):
    """qc's label/hyp CER is scored by curate cer's own profile and units: the same pair gives the
    same edits and reference length in `curate cer`'s per_utt.tsv (markers stripped)."""
    from typer.testing import CliRunner

    from curate.cli import app

    ids = [f"u{i}" for i in range(len(PAIRS))]
    (tmp_path / "ref.tsv").write_text("".join(f"{k}\t{r}\n" for k, (r, _) in zip(ids, PAIRS)),
                                      encoding="utf-8")
    (tmp_path / "hyp.tsv").write_text("".join(f"{k}\t{h}\n" for k, (_, h) in zip(ids, PAIRS)),
                                      encoding="utf-8")
    res = CliRunner().invoke(app, ["cer", "--ref", str(tmp_path / "ref.tsv"), "--hyp",
                                   f"h={tmp_path / 'hyp.tsv'}", "--fuzzy", "strip", "--out",
                                   str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    rows = [line.split("\t") for line in (tmp_path / "out" / "per_utt.tsv")
            .read_text(encoding="utf-8").splitlines()[1:]]
    printed = {row[1]: (sum(map(int, row[5:8])), int(row[4])) for row in rows}
    for k, (ref, hyp) in zip(ids, PAIRS):
        rate, edits, n = pair.cer(ref, hyp)
        assert (edits, n) == printed[k], (ref, hyp)
        assert rate == pytest.approx(edits / n)
    assert pair.cer("开启车窗", "開啟車窗") == (0.0, 0, 4)
    assert pair.cer("", "有字")[0] == 1.0 and pair.cer("", "")[0] == 0.0