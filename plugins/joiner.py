"""Joining transcripts of consecutive pieces (merge30 windows, chunk30 windows) into one text.

Mandarin is written without spaces between words, so the default joiner puts nothing between two
pieces when either side of the seam is a CJK character (or CJK punctuation), and one space between
Latin words or digits. Any other joiner string (e.g. ``。`` or ``,``) is inserted literally.
"""
from __future__ import annotations

from typing import Iterable

from manifests.cjk import no_space_beside

AUTO = "auto"


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
        if out and not no_space_beside(out[-1]) and not no_space_beside(piece[0]):
            out += " "
        out += piece
    return out


JOINER_HELP = ("text between joined transcripts: 'auto' puts nothing next to a CJK character and "
               "one space between Latin words; any other string (e.g. '。') is used as is")
