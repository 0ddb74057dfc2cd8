"""Tokenisation units, the normalisation profile and the number policy of `curate cer`."""
import pytest

from curate.cer.normalize import PROFILES, changed_by_t2s, normalize
from curate.cer.numbers import convert_numbers, quantity
from curate.cer.units import Vocabulary, tokenize

ZH = PROFILES["zh"]


def tokens(text, unit="mixed"):
    vocab = Vocabulary()
    return [vocab.decode(ch) for ch in tokenize([text], unit, vocab)[0]]


def test_mixed_units_split_cjk_by_character_and_latin_digit_runs_by_word():
    assert tokens("打开gps导航到3号楼") == ["打", "开", "gps", "导", "航", "到", "3", "号", "楼"]
    assert tokens("查一下京a12345") == ["查", "一", "下", "京", "a12345"]
    assert tokens("打开 空调") == list("打开空调")
    assert tokens("打开a b空调") == list("打开ab空调")


def test_forced_units():
    assert tokens("打开 gps", "char") == list("打开gps")
    assert tokens("打开 gps 导航", "word") == ["打开", "gps", "导航"]
    with pytest.raises(ValueError):
        tokenize(["x"], "syllable", Vocabulary())


def test_token_strings_have_one_character_per_token_and_share_codes():
    vocab = Vocabulary()
    a, b, c = tokenize(["打开gps", "gps导航wifi", "\U000f0000"], "mixed", vocab)
    assert len(a) == 3 and len(b) == 4
    assert a[2] == b[0] != b[3]  # equal words, equal codes
    # a private-use character in the text itself is coded too: no clash with the word codes
    assert len(c) == 1 and c != a[2] and vocab.decode(c) == "\U000f0000"


def test_zh_profile_width_case_punctuation_whitespace_and_t2s():
    out = normalize(["打開ＧＰＳ導航，去「北京」！", "Don't  STOP \t now", "  ", "好的。。。",
                     "a\nb"], ZH)
    assert out == ["打开gps导航 去 北京", "dont stop now", "", "好的", "a b"]


def test_none_profile_only_collapses_whitespace():
    assert normalize(["打開ＧＰＳ，  去！ "], PROFILES["none"]) == ["打開ＧＰＳ， 去！"]


def test_number_policy_keep_is_the_default_and_never_touches_chinese_numerals():
    assert ZH.numbers == "keep"
    for policy in ("keep", "digits", "spoken"):
        assert normalize(["三心二意，一心一意"], ZH.with_policies(numbers=policy)) == \
            ["三心二意 一心一意"]
    assert normalize(["温度调到25度"], ZH) == ["温度调到25度"]


def test_number_policies_convert_arabic_to_chinese():
    assert convert_numbers("拨打110", "digits") == "拨打一一零"
    assert convert_numbers("调到25度", "spoken") == "调到二十五度"
    assert convert_numbers("2024年", "spoken") == "二零二四年"
    assert convert_numbers("3.5公里", "spoken") == "三点五公里"
    assert convert_numbers("打到50%", "spoken") == "打到百分之五十"
    assert convert_numbers("13812345678", "spoken") == "一三八一二三四五六七八"
    assert [quantity(n) for n in (10, 15, 101, 1005, 10005, 120000, 100010000)] == \
        ["十", "十五", "一百零一", "一千零五", "一万零五", "十二万", "一亿零一万"]


def test_fillers_are_kept_unless_dropped():
    assert normalize(["嗯，打开空调啊"], ZH) == ["嗯 打开空调啊"]
    assert normalize(["嗯，打开空调啊"], ZH.with_policies(fillers="drop")) == ["打开空调"]


def test_profile_description_names_every_step():
    text = ZH.with_policies(numbers="spoken").describe()
    for part in ("NFKC", "t2s", "case", "numbers: spoken", "fillers", "punctuation", "whitespace"):
        assert part in text


def test_traditional_detection():
    assert changed_by_t2s(["打开空调", "打開空調", ""]) == [False, True, False]
