"""Scoring units: which pieces of text one error is counted on.

``mixed`` (default) scores CJK ideographs, kana and hangul one character each, a maximal run of
other letters or digits (``GPS``, ``2024``, ``wifi``) as one word, and any other non-space
character (punctuation left by the ``none`` profile, symbols) as one token. ``char`` scores every
non-space character, ``word`` every whitespace-separated word.

A tokenised text is always a ``str`` with one character per token: a token longer than one
character is replaced by a private-use code point from a ``Vocabulary`` shared by the whole run,
so rapidfuzz compares plain strings (its fastest path) and equal tokens get equal codes.
"""
from __future__ import annotations

import re

# One definition of CJK for every layer; is_cjk and all_cjk are re-exported as the scorer's units.
from manifests.cjk import CJK_LETTERS, all_cjk, is_cjk  # noqa: F401

from .fuzzy import WILDCARD

UNITS = ("mixed", "char", "word")

# Letters and digits that are not CJK, e.g. Latin, Greek, Cyrillic, full-width Latin.
_RUN = rf"[^\W_{CJK_LETTERS}]"
# Codes for multi-character tokens: planes 15-16, private use, less the wildcard. Characters of
# that range found in the text itself are coded too, so they can never be mistaken for a code.
_FIRST, _LAST = 0xF0000, ord(WILDCARD) - 1
FIRST_CODE = chr(_FIRST)  # a token string whose max() is below this holds no codes
_PRIVATE = f"[\\U000f0000-\\U{_LAST:08x}]"
_TO_CODE = {  # the group makes re.split return each token to code, at the odd positions
    "mixed": re.compile(rf"({_RUN}{{2,}}|{_PRIVATE})"),
    "word": re.compile(rf"([^\s{WILDCARD}]{{2,}}|{_PRIVATE})"),
}


class VocabularyFull(ValueError):
    """More distinct multi-character tokens than there are private-use code points."""


class Vocabulary:
    """Multi-character tokens ↔ single private-use characters, for one scoring run."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    def code(self, token: str) -> str:
        c = self.codes.get(token)
        if c is None:
            if _FIRST + len(self.codes) > _LAST:
                raise VocabularyFull(f"more than {_LAST - _FIRST + 1} distinct multi-character "
                                     "tokens; score with --unit char or --unit mixed")
            c = chr(_FIRST + len(self.codes))
            self.codes[token] = c
            self.tokens[c] = token
        return c

    def decode(self, ch: str) -> str:
        return self.tokens.get(ch, ch)


def tokenize(texts: list[str], unit: str, vocab: Vocabulary) -> list[str]:
    """Token strings of normalised texts (one line each, words separated by single spaces, as
    ``normalize`` leaves them); one character per token, see ``Vocabulary``.

    The batch is joined and coded in one regex pass, then the spaces, which only separate
    tokens, are dropped.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    if not texts:
        return []
    joined = "\n".join(texts)
    if unit in _TO_CODE:
        pieces = _TO_CODE[unit].split(joined)
        if len(pieces) > 1:
            codes = vocab.codes  # known tokens straight from the table, new ones coded
            pieces[1::2] = [codes.get(t) or vocab.code(t) for t in pieces[1::2]]
            joined = "".join(pieces)
    out = joined.replace(" ", "").split("\n")
    if len(out) != len(texts):
        raise ValueError("tokenize() takes single-line texts; normalise them first")
    return out
