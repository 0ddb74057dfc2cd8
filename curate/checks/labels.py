"""Checks on a transcript's text alone: unclear-span markers, characters outside the expected
scripts, mixed punctuation widths, numbers written in two scripts, and speaking units. (Two texts
are compared by ``curate.cer.pair``, the scorer of ``curate cer``.)"""
from __future__ import annotations

import re
import unicodedata

from manifests.cjk import is_cjk, is_han
from manifests.markers import CN_NUMERALS, DEFAULT_MARKERS, strip_markers

# Characters a Mandarin label may hold besides Han ideographs and printable ASCII.
_ALLOWED_RANGES = (
    (0x3000, 0x303F),    # CJK punctuation: 。、「」【】〇
    (0xFE30, 0xFE4F),    # CJK compatibility forms
    (0xFF01, 0xFFEF),    # full-width forms: ，！？～ＡＢ１２
    (0x2010, 0x2027),    # dashes, quotes, ellipsis
)
_ALLOWED_CHARS = set("°·×÷‰′″℃№")

FULL_PUNCT = set("，。！？：；、（）【】《》“”‘’…—「」『』")
HALF_PUNCT = set(",.!?:;()[]<>\"'")
_ARABIC = "0123456789０１２３４５６７８９"
_NUMBER_RUN = re.compile(f"[{_ARABIC}{CN_NUMERALS}]+")
_SCRIPT_PIECE = re.compile(f"[{_ARABIC}]+|[{CN_NUMERALS}]+")
_MAGNITUDES = "十百千万亿"
# Words made of numeral characters that are not numbers (万一 "in case", 千万 "by all means").
_NOT_NUMBERS = {"一", "万一", "千万", "一一"}
_WORD = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ]+(?:'[A-Za-z]+)?")


def bad_chars(text: str, allowed: str = "") -> list[str]:
    """Code points (``U+FFFD``) of characters outside the expected scripts, in first-seen order:
    control characters, replacement characters, emoji, private-use and mojibake (Latin-1 letters
    such as ``Ã¦`` left by a wrong decoding)."""
    out: list[str] = []
    for ch in text:
        if _expected(ch) or ch in allowed:
            continue
        code = f"U+{ord(ch):04X}"
        if code not in out:
            out.append(code)
    return out


def _expected(ch: str) -> bool:
    cp = ord(ch)
    if 0x20 <= cp <= 0x7E or ch in _ALLOWED_CHARS or is_han(ch):
        return True
    return any(lo <= cp <= hi for lo, hi in _ALLOWED_RANGES)


def char_name(code: str) -> str:
    """``U+FFFD`` → ``U+FFFD REPLACEMENT CHARACTER`` for reports."""
    ch = chr(int(code[2:], 16))
    return f"{code} {unicodedata.name(ch, unicodedata.category(ch))}"


def punct_widths(text: str, markers=DEFAULT_MARKERS) -> tuple[int, int]:
    """(full-width, half-width) punctuation marks. Dots, colons and commas between digits
    (3.5, 8:30, 1,000) are part of a number, not punctuation; markers are not punctuation."""
    text = strip_markers(text, markers)
    full = half = 0
    for i, ch in enumerate(text):
        if ch in FULL_PUNCT:
            full += 1
        elif ch in HALF_PUNCT:
            if ch in ".:," and 0 < i < len(text) - 1 and text[i - 1].isdigit() \
                    and text[i + 1].isdigit():
                continue
            half += 1
    return full, half


def mixed_numerals(text: str) -> list[str]:
    """The numbers written half in Arabic digits, half in Chinese numerals (``3十五``, ``二0二四``):
    an Arabic digit directly next to a Chinese numeral. Digits followed by magnitudes alone are the
    usual written style (``3万``, ``2亿``, ``5千米``, and between digit groups ``1万5``, ``2亿5000万``),
    and numeral words that are no number (万一, a lone 一) are not numerals; nor is anything not
    next to a digit (三心二意 … 8号线)."""
    out = []
    for m in _NUMBER_RUN.finditer(text):
        pieces = [p.group(0) for p in _SCRIPT_PIECE.finditer(m.group(0))]
        for j, piece in enumerate(pieces):
            if piece[0] in _ARABIC or len(pieces) == 1 or piece in _NOT_NUMBERS:
                continue
            if set(piece) <= set(_MAGNITUDES) and j > 0:   # a magnitude after digits
                continue
            out.append(m.group(0))
            break
    return out


def speech_units(text: str, markers=DEFAULT_MARKERS) -> int:
    """What is spoken, counted for a speaking rate: Chinese characters, English words, and digits
    (read one syllable each, near enough). Markers and punctuation are not spoken."""
    text = strip_markers(text, markers)
    words = len(_WORD.findall(text))
    cjk = sum(1 for ch in text if is_cjk(ch))
    digits = sum(1 for ch in text if ch.isdigit())
    return cjk + words + digits
