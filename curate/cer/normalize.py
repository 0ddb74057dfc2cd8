"""Text normalisation profiles, applied identically to references and hypotheses before scoring.

The ``zh`` profile (default): NFKC (full-width → half-width and other compatibility forms), OpenCC
traditional → simplified (``t2s``), case folding, the number policy (``keep`` by default, see
``numbers.py``), the filler policy (``keep`` by default; ``drop`` removes 嗯/啊/呃), punctuation
removal (every Unicode punctuation character, CJK and ASCII, plus ``~ ` ^ |``, which Chinese
text uses as punctuation; apostrophes are dropped so "don't" stays one word, other punctuation
becomes a space) and whitespace collapsed. The ``none`` profile only collapses whitespace: its
scores are the "raw" CER shown next to the normalised one.

Texts are normalised as one batch: joined by newlines, each step runs once over the whole batch
in C or numpy (OpenCC, str methods, a code-point lookup table), then the batch is split again.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, replace

import numpy as np

from .numbers import POLICIES as NUMBER_POLICIES, convert_numbers

FILLER_POLICIES = ("keep", "drop")
FILLERS = "嗯啊呃"
_FILLER = re.compile(f"[{FILLERS}]")
# Symbols that Chinese text uses as punctuation, though Unicode files them under S*.
_EXTRA_PUNCT = "~`^|"
_APOSTROPHES = "'\u2019"
_TABLE_SIZE = 0x20000  # every punctuation and space character lies in planes 0-1


@dataclass(frozen=True)
class Profile:
    name: str
    nfkc: bool
    t2s: bool
    casefold: bool
    punctuation: bool
    numbers: str = "keep"
    fillers: str = "keep"

    def with_policies(self, numbers: str | None = None, fillers: str | None = None) -> "Profile":
        if numbers is not None and numbers not in NUMBER_POLICIES:
            raise ValueError(f"unknown number policy {numbers!r}; "
                             f"expected one of {', '.join(NUMBER_POLICIES)}")
        if fillers is not None and fillers not in FILLER_POLICIES:
            raise ValueError(f"unknown filler policy {fillers!r}; "
                             f"expected one of {', '.join(FILLER_POLICIES)}")
        return replace(self, numbers=numbers or self.numbers, fillers=fillers or self.fillers)

    def describe(self) -> str:
        steps = []
        if self.nfkc:
            steps.append("NFKC (full-width → half-width)")
        if self.t2s:
            steps.append("traditional → simplified (OpenCC t2s)")
        if self.casefold:
            steps.append("case folding")
        steps.append(f"numbers: {self.numbers}")
        steps.append(f"fillers ({FILLERS}): {self.fillers}")
        if self.punctuation:
            steps.append("punctuation removed (CJK and ASCII)")
        steps.append("whitespace collapsed")
        return f"{self.name}: " + ", ".join(steps)

    def to_dict(self) -> dict:
        return {**asdict(self), "description": self.describe()}


PROFILES = {
    "zh": Profile("zh", nfkc=True, t2s=True, casefold=True, punctuation=True),
    "none": Profile("none", nfkc=False, t2s=False, casefold=False, punctuation=False),
}

_T2S = None
_BLANK: dict[bool, np.ndarray] = {}


def t2s_converter():
    global _T2S
    if _T2S is None:
        import opencc
        _T2S = opencc.OpenCC("t2s")
    return _T2S


def _blank_table(punctuation: bool) -> np.ndarray:
    """Per code point: True for characters that become a space (whitespace other than the
    newline that separates texts, and with ``punctuation`` every punctuation character)."""
    if punctuation not in _BLANK:
        table = np.zeros(_TABLE_SIZE, dtype=bool)
        for cp in range(_TABLE_SIZE):
            ch = chr(cp)
            if (ch.isspace() and ch != "\n") or (punctuation and (
                    ch in _EXTRA_PUNCT or unicodedata.category(ch)[0] == "P")):
                table[cp] = True
        _BLANK[punctuation] = table
    return _BLANK[punctuation]


def changed_by_t2s(texts: list[str]) -> list[bool]:
    """Which texts OpenCC t2s would change, i.e. hold traditional characters (one C call)."""
    if not texts:
        return []
    joined = "\n".join(t.replace("\n", " ") for t in texts)
    converted = t2s_converter().convert(joined)
    if converted == joined:
        return [False] * len(texts)
    before, after = joined.split("\n"), converted.split("\n")
    if len(after) != len(before):
        after = [t2s_converter().convert(t) for t in before]
    return [a != b for a, b in zip(before, after)]


def normalize(texts: list[str], profile: Profile) -> list[str]:
    """The normalised texts: single spaces between words, none at either end."""
    if not texts:
        return []
    texts = [t.replace("\r", " ").replace("\n", " ") if "\n" in t or "\r" in t else t
             for t in texts]
    if profile.nfkc:  # per text: the quick check skips the (usual) already-normal ones
        texts = [t if unicodedata.is_normalized("NFKC", t) else unicodedata.normalize("NFKC", t)
                 for t in texts]
    joined = "\n".join(texts)
    out = _steps(joined, profile).split("\n")
    if len(out) != len(texts):  # a step merged or split lines: redo one text at a time
        out = [_steps(t, profile) for t in texts]
    return [t.strip(" ") for t in out]


def _steps(text: str, profile: Profile) -> str:
    if profile.t2s:
        text = t2s_converter().convert(text)
    if profile.casefold:
        text = text.casefold()
    text = convert_numbers(text, profile.numbers)
    if profile.fillers == "drop":
        text = _FILLER.sub("", text)
    if profile.punctuation:
        for ch in _APOSTROPHES:
            text = text.replace(ch, "")
    return _blank_and_collapse(text, _blank_table(profile.punctuation))


def _blank_and_collapse(text: str, table: np.ndarray) -> str:
    """Blank the table's characters and collapse runs of spaces, vectorised over code points."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    codes[table[np.minimum(codes, _TABLE_SIZE - 1)] & (codes < _TABLE_SIZE)] = 32
    space = codes == 32
    repeat = space[1:] & space[:-1]
    if repeat.any():
        codes = codes[np.concatenate(([True], ~repeat))]
    return codes.tobytes().decode("utf-32-le", "surrogatepass")
