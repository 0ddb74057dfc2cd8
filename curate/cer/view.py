"""A plain-text alignment view in which Chinese characters line up: wide characters (East Asian
width W or F) count as two columns, so a terminal or editor with a CJK font shows the reference
token above the hypothesis token it was aligned with."""
from __future__ import annotations

import unicodedata

from .units import FIRST_CODE

MARK = {"replace": "S", "delete": "D", "insert": "I", "absorb": "~", "": ""}
UNCLEAR = "～"


class _Widths(dict):
    """Display width per character, filled on first sight."""

    def __missing__(self, ch: str) -> int:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        self[ch] = w
        return w


_WIDTHS = _Widths()


def width(text: str) -> int:
    return sum(map(_WIDTHS.__getitem__, text))


def columns(ref: str, hyp: str, ops, cuts=(), absorbed=(),
            decode=lambda ch: ch) -> list[tuple[str | None, str | None, str]]:
    """The aligned cells ``(ref text, hyp text, op)``; None where a side has no token.

    An edit is one cell; a run of matched tokens is one cell (tag ``""``) holding the run's
    tokens separated by spaces, the same text on both sides. ``cuts``/``absorbed``: wildcard
    positions in the reference and the hypothesis span each one absorbed (see
    ``align_wildcard``); each shows as one ``～`` cell. ``decode`` turns token codes back into
    text (``Vocabulary.decode``).
    """
    if absorbed:  # wildcard columns go between the ops of the pieces around them
        events = [(j, i, 1, tag, 0) for tag, i, j in ops]
        events += [(j0, cut, 0, "absorb", j1) for cut, (j0, j1) in zip(cuts, absorbed)]
        events.sort()
        steps = [(tag, si, dj, j1) for dj, si, _, tag, j1 in events]
    else:
        steps = [(tag, si, dj, 0) for tag, si, dj in ops]
    out: list[tuple[str | None, str | None, str]] = []
    tok = lambda ch: ch if ch < FIRST_CODE else decode(ch)  # noqa: E731

    def matched(i0: int, i1: int) -> None:
        if i1 > i0:
            run = ref[i0:i1]
            text = " ".join(run if max(run) < FIRST_CODE else map(decode, run))
            out.append((text, text, ""))

    i = j = 0
    for tag, si, dj, j1 in steps:
        if si > i:
            matched(i, si)
            j += si - i
            i = si
        if tag == "replace":
            out.append((tok(ref[i]), tok(hyp[j]), tag))
            i += 1
            j += 1
        elif tag == "delete":
            out.append((tok(ref[i]), None, tag))
            i += 1
        elif tag == "insert":
            out.append((None, tok(hyp[j]), tag))
            j += 1
        else:
            span = [tok(ch) for ch in hyp[j:j1]]
            joined = ("" if all(len(t) == 1 for t in span) else " ").join(span)
            out.append((UNCLEAR, joined or None, tag))
            j = j1
    matched(i, len(ref))
    return out


def render(cells) -> tuple[str, str, str]:
    """Three lines (reference, hypothesis, ops) with each cell padded to the same width."""
    ref_line, hyp_line, op_line = [], [], []
    last_edit = max((k for k, c in enumerate(cells) if c[2]), default=-1)
    for k, (r, h, tag) in enumerate(cells):
        if not tag:  # matched: the same text above and below
            ref_line.append(r)
            hyp_line.append(r)
            if k < last_edit:  # the ops line ends at its last mark
                op_line.append(" " * width(r))
            continue
        wr = (_WIDTHS[r] if len(r) == 1 else width(r)) if r else 1
        wh = (_WIDTHS[h] if len(h) == 1 else width(h)) if h else 1
        w = max(wr, wh)
        ref_line.append(r + " " * (w - wr) if r else "*" * w)
        hyp_line.append(h + " " * (w - wh) if h else "*" * w)
        op_line.append(MARK[tag].ljust(w))
    return (" ".join(ref_line).rstrip(), " ".join(hyp_line).rstrip(),
            " ".join(op_line).rstrip())
