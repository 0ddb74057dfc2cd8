"""Label checks on text alone."""
import pytest

from plugins import label_checks as L


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


def test_numeral_styles():
    assert L.numeral_runs("调到22度然后风量三档") == (1, 1)
    assert L.numeral_runs("等一下万一堵车") == (0, 0)
    assert L.numeral_runs("二十二度") == (0, 1)


def test_speech_units():
    assert L.speech_units("打开空调") == 4
    assert L.speech_units("播放Taylor Swift的歌") == 6
    assert L.speech_units("调到22度") == 5
    assert L.speech_units("播放【～】的歌，好吗？") == 6


def test_cer_normalises_before_comparing():
    assert L.cer("打开空调。", "打开 空调") == (0.0, 0, 4)
    rate, edits, n = L.cer("打开车窗然后把空调温度调到二十二度", "打开车窗")
    assert n == 17 and edits == 13 and rate == pytest.approx(13 / 17)
    assert L.cer("ＡＢＣ", "abc")[0] == 0.0
    assert L.cer("", "有字")[0] == 1.0 and L.cer("", "")[0] == 0.0
