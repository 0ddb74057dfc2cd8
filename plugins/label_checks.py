"""Checks on a transcript's text alone: unclear-span markers, characters outside the expected
scripts, mixed punctuation widths and numeral styles, speaking units, and CER between two texts."""
from __future__ import annotations

import re
import unicodedata

from manifests.markers import CN_NUMERALS, DEFAULT_MARKERS, strip_markers

# Characters a Mandarin label may hold besides CJK ideographs and printable ASCII.
_ALLOWED_RANGES = (
    (0x3000, 0x303F),    # CJK punctuation: 。、「」【】〇
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFE30, 0xFE4F),    # CJK compatibility forms
    (0xFF01, 0xFFEF),    # full-width forms: ，！？～ＡＢ１２
    (0x2010, 0x2027),    # dashes, quotes, ellipsis
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)
_ALLOWED_CHARS = set("°·×÷‰′″℃№")

FULL_PUNCT = set("，。！？：；、（）【】《》“”‘’…—「」『』")
HALF_PUNCT = set(",.!?:;()[]<>\"'")
_CN_NUMERAL_RUN = re.compile(f"[{CN_NUMERALS}]+")
# Words made of numeral characters that are not numbers (万一 "in case", 千万 "by all means").
_NOT_NUMBERS = {"一", "万一", "千万", "一一"}
_ARABIC_RUN = re.compile(r"[0-9０-９]+")
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
    if 0x20 <= cp <= 0x7E or ch in _ALLOWED_CHARS:
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


def numeral_runs(text: str) -> tuple[int, int]:
    """(Arabic digit numbers, Chinese numeral numbers) in the text. A lone 一 (一下, 一点) and
    words like 万一 are not counted as numbers."""
    arabic = len(_ARABIC_RUN.findall(text))
    chinese = sum(1 for m in _CN_NUMERAL_RUN.finditer(text) if m.group(0) not in _NOT_NUMBERS)
    return arabic, chinese


def speech_units(text: str, markers=DEFAULT_MARKERS) -> int:
    """What is spoken, counted for a speaking rate: Chinese characters, English words, and digits
    (read one syllable each, near enough). Markers and punctuation are not spoken."""
    text = strip_markers(text, markers)
    words = len(_WORD.findall(text))
    cjk = sum(1 for ch in text if 0x3400 <= ord(ch) <= 0x9FFF or 0x20000 <= ord(ch) <= 0x3FFFF
              or ch == "〇")
    digits = sum(1 for ch in text if ch.isdigit())
    return cjk + words + digits


def normalize(text: str, markers=DEFAULT_MARKERS) -> str:
    """The text as compared for CER: no markers, punctuation or spaces; full-width folded (NFKC);
    lower case."""
    text = unicodedata.normalize("NFKC", strip_markers(text, markers)).lower()
    return "".join(ch for ch in text if ch.isalnum())


def cer(ref: str, hyp: str, markers=DEFAULT_MARKERS) -> tuple[float, int, int]:
    """(character error rate, edits, reference length) of ``hyp`` against ``ref``, normalised.
    An empty reference gives a rate of 1.0 when the hypothesis has anything, else 0.0."""
    from rapidfuzz.distance import Levenshtein

    r, h = normalize(ref, markers), normalize(hyp, markers)
    edits = Levenshtein.distance(r, h)
    if not r:
        return (1.0 if h else 0.0), edits, 0
    return edits / len(r), edits, len(r)
