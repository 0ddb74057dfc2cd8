"""Which characters are CJK, from one table: the CER scorer (one token per CJK letter), the
transcript joiner (no space beside CJK text or its punctuation) and the label checks (Han
ideographs expected in a Mandarin label) each take the kinds they need from it."""
from __future__ import annotations

import re

HAN = "han"        # ideographs: what a Mandarin label is written in
LETTER = "letter"  # other CJK letters (kana, bopomofo, hangul syllables, radicals, 々〆〇)
MARK = "mark"      # punctuation, symbols, full-width forms, conjoining jamo, enclosed forms

# Scripts written without spaces between words, their punctuation and full-width forms (～ and 【】
# included), in code point order; HAN and LETTER are scored one character per token.
RANGES = (
    (0x1100, 0x11FF, MARK),     # Hangul Jamo (conjoining)
    (0x2E80, 0x2FDF, LETTER),   # CJK radicals, Kangxi radicals
    (0x3000, 0x3004, MARK),     # ideographic space, 、。〃〄
    (0x3005, 0x3007, LETTER),   # iteration and number marks 々〆〇
    (0x3008, 0x3020, MARK),     # brackets 「」【】, 〒
    (0x3021, 0x3029, LETTER),   # Hangzhou numerals
    (0x302A, 0x303F, MARK),     # tone marks, 〰, 〽
    (0x3040, 0x30FF, LETTER),   # Hiragana, Katakana
    (0x3100, 0x312F, LETTER),   # Bopomofo
    (0x3130, 0x319F, MARK),     # Hangul compatibility jamo, Kanbun
    (0x31A0, 0x31FF, LETTER),   # Bopomofo extended, CJK strokes, Katakana phonetic extensions
    (0x3200, 0x33FF, MARK),     # enclosed CJK letters and months, CJK compatibility ㈠㎞
    (0x3400, 0x4DBF, HAN),      # CJK extension A
    (0x4E00, 0x9FFF, HAN),      # CJK unified ideographs
    (0xA960, 0xA97F, MARK),     # Hangul Jamo extended A
    (0xAC00, 0xD7AF, LETTER),   # Hangul syllables
    (0xD7B0, 0xD7FF, MARK),     # Hangul Jamo extended B
    (0xF900, 0xFAFF, HAN),      # CJK compatibility ideographs
    (0xFE30, 0xFE4F, MARK),     # CJK compatibility forms
    (0xFF00, 0xFFEF, MARK),     # half- and full-width forms: ，！？～ＡＢ１２
    (0x20000, 0x3FFFF, HAN),    # CJK extensions B and later (the ideographic planes)
)


def char_class(*kinds: str) -> str:
    """The body of a regex character class (no brackets) holding the ranges of ``kinds``."""
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi, kind in RANGES if kind in kinds)


CJK_LETTERS = char_class(HAN, LETTER)
_LETTER = re.compile(f"[{CJK_LETTERS}]")
_ALL_LETTERS = re.compile(f"[{CJK_LETTERS}]*")
_HAN = re.compile(f"[{char_class(HAN)}]")
_UNSPACED = re.compile(f"[{char_class(HAN, LETTER, MARK)}]")


def is_cjk(ch: str) -> bool:
    """A CJK letter (ideograph, kana, bopomofo, hangul syllable): one scoring token."""
    return len(ch) == 1 and _LETTER.match(ch) is not None


def all_cjk(text: str) -> bool:
    """Every character of ``text`` is a CJK letter (one token each)."""
    return _ALL_LETTERS.fullmatch(text) is not None


def is_han(ch: str) -> bool:
    """A Han ideograph (unified, extensions, compatibility)."""
    return len(ch) == 1 and _HAN.match(ch) is not None


def no_space_beside(ch: str) -> bool:
    """A character of a script written without spaces between words, or its punctuation or
    full-width forms: text joined next to it takes no space."""
    return len(ch) == 1 and _UNSPACED.match(ch) is not None
