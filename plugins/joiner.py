"""Joining transcripts of consecutive pieces (merge30 windows, chunk30 windows) into one text.

Mandarin is written without spaces between words, so the default joiner puts nothing between two
pieces when either side of the seam is a CJK character (or CJK punctuation), and one space between
Latin words or digits. Any other joiner string (e.g. ``。`` or ``,``) is inserted literally.
"""
from __future__ import annotations

from typing import Iterable

AUTO = "auto"

# Scripts written without spaces, their punctuation and full-width forms (～ and 【】 included).
_CJK_RANGES = (
    (0x1100, 0x11FF),    # Hangul Jamo
    (0x2E80, 0x2FDF),    # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),    # CJK symbols and punctuation: 。、「」【】
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3100, 0x31FF),    # Bopomofo, Hangul compatibility, Kanbun, CJK strokes, Katakana ext.
    (0x3200, 0x4DBF),    # enclosed CJK, compatibility, CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xA960, 0xA97F),    # Hangul Jamo extended A
    (0xAC00, 0xD7FF),    # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFE30, 0xFE4F),    # CJK compatibility forms
    (0xFF00, 0xFFEF),    # half- and full-width forms: ，！？～
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def is_cjk(ch: str) -> bool:
    """True for a character of a script written without spaces between words."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def join_texts(texts: Iterable[str], joiner: str = AUTO) -> str:
    """Join transcripts in order; empty pieces are skipped, pieces are stripped.

    >>> join_texts(["打开空调", "调到二十度"])
    '打开空调调到二十度'
    >>> join_texts(["play", "next song"])
    'play next song'
    >>> join_texts(["导航到", "Starbucks"])
    '导航到Starbucks'
    >>> join_texts(["打开空调", "调到二十度"], "。")
    '打开空调。调到二十度'
    """
    pieces = [t.strip() for t in texts if t and t.strip()]
    if joiner != AUTO:
        return joiner.join(pieces)
    out = ""
    for piece in pieces:
        if out and not is_cjk(out[-1]) and not is_cjk(piece[0]):
            out += " "
        out += piece
    return out


JOINER_HELP = ("text between joined transcripts: 'auto' puts nothing next to a CJK character and "
               "one space between Latin words; any other string (e.g. '。') is used as is")
