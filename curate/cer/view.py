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
            decode=lambda ch: ch, join=" ".join) -> list[tuple[str | None, str | None, str]]:
    """The aligned cells ``(ref text, hyp text, op)``; None where a side has no token.

    An edit is one cell; a run of matched tokens is one cell (tag ``""``) holding the run's
    tokens joined by ``join`` (spaces), the same text on both sides. ``cuts``/``absorbed``: wildcard
    positions in the reference and the hypothesis span each one absorbed (see
    ``align_wildcard``); each shows as one ``～`` cell. ``decode`` turns token codes back into
    text (``Vocabulary.decode``).
    """
    steps = _with_wildcards(ops, cuts, absorbed) if absorbed else ops
    ref = decode_tokens(ref, decode)  # every reference token is shown, only the edited hyp ones
    out: list[tuple[str | None, str | None, str]] = []
    i = j = 0
    for tag, si, dj in steps:
        if si > i:  # the matched run before this step
            run = join(ref[i:si])
            out.append((run, run, ""))
            j += si - i
            i = si
        if tag == "replace":
            out.append((ref[i], decode(hyp[j]), tag))
            i += 1
            j += 1
        elif tag == "delete":
            out.append((ref[i], None, tag))
            i += 1
        elif tag == "insert":
            out.append((None, decode(hyp[j]), tag))
            j += 1
        else:  # absorb: dj is the end of the absorbed span
            span = [decode(ch) for ch in hyp[j:dj]]
            joined = ("" if all(len(t) == 1 for t in span) else " ").join(span)
            out.append((UNCLEAR, joined or None, tag))
            j = dj
    if len(ref) > i:
        run = join(ref[i:])
        out.append((run, run, ""))
    return out


def decode_tokens(seq: str, decode) -> list[str]:
    """The tokens of a token string as a list of texts (a list joins faster than a str)."""
    if seq and max(seq) >= FIRST_CODE:
        return [decode(ch) if ch >= FIRST_CODE else ch for ch in seq]
    return list(seq)


def _with_wildcards(ops, cuts, absorbed) -> list[tuple[str, int, int]]:
    """The ops with one ``("absorb", cut, end of span)`` step per wildcard, in hypothesis order
    (a wildcard goes between the ops of the pieces around it)."""
    events = [(j, i, 1, tag, j) for tag, i, j in ops]
    events += [(j0, cut, 0, "absorb", j1) for cut, (j0, j1) in zip(cuts, absorbed)]
    events.sort()
    return [(tag, i, end) for _, i, _, tag, end in events]


def render(cells) -> tuple[str, str, str]:
    """Three lines (reference, hypothesis, ops) with each cell padded to the same width."""
    ref_line, hyp_line, op_line = [], [], []
    matched = None  # matched text since the last edit: blanked on the ops line if an edit follows
    for r, h, tag in cells:
        if not tag:  # the same text above and below
            ref_line.append(r)
            hyp_line.append(r)
            matched = r if matched is None else f"{matched} {r}"
            continue
        if matched is not None:
            op_line.append(" " * width(matched))
            matched = None
        wr = (_WIDTHS[r] if len(r) == 1 else width(r)) if r else 1
        wh = (_WIDTHS[h] if len(h) == 1 else width(h)) if h else 1
        w = max(wr, wh)
        ref_line.append(r + " " * (w - wr) if r else "*" * w)
        hyp_line.append(h + " " * (w - wh) if h else "*" * w)
        op_line.append(MARK[tag].ljust(w))
    return (" ".join(ref_line).rstrip(), " ".join(hyp_line).rstrip(),
            " ".join(op_line).rstrip())
