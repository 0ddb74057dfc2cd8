"""Alignment of a reference and a hypothesis token string (one character per token, see
``units.py``).

Cost: a substitution, a deletion and an insertion each cost 1, and the alignment has the minimum
total (the Levenshtein distance). rapidfuzz computes it in C; it is the same alignment jiwer uses.
The tie-break among equal-cost alignments is TIE_BREAK below (also written to summary.json).

Ops are rapidfuzz editops ``(tag, ref_pos, hyp_pos)`` with tag ``replace``, ``delete`` or
``insert``; an insertion's ``ref_pos`` is the gap before that reference token.
"""
from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from .fuzzy import WILDCARD

TIE_BREAK = (
    "Several alignments often share the minimum cost; rapidfuzz (>= 3) traces back from the "
    "ends of both sequences and, whenever the step keeps the total minimal, takes a deletion "
    "first, then an insertion, then the diagonal (match or substitution). In counts: between "
    "two matched tokens the edited tokens pair up as substitutions from the left and the "
    "surplus is deletions (reference longer) or insertions (hypothesis longer) at the right end "
    "of the run (abcd -> xy: S S D D); where keeping a match ties with substituting around it, "
    "the match is kept (ab -> ba: I, match, D). Because the alignment is minimal, every run of "
    "edits between matches has S = min(reference run, hypothesis run).")

_editops = Levenshtein.editops
_distance = Levenshtein.distance


def align(ref: str, hyp: str) -> list[tuple[str, int, int]]:
    return [] if ref == hyp else _editops(ref, hyp).as_list()


def edit_distance(ref: str, hyp: str) -> int:
    return 0 if ref == hyp else _distance(ref, hyp)


def count_ops(ops) -> tuple[int, int, int]:
    s = d = i = 0
    for tag, _, _ in ops:
        if tag == "replace":
            s += 1
        elif tag == "delete":
            d += 1
        else:
            i += 1
    return s, d, i


def wildcard_positions(ref: str) -> list[int]:
    """Where each wildcard sits, counted in tokens of the reference without wildcards."""
    out, pos = [], 0
    for piece in ref.split(WILDCARD)[:-1]:
        pos += len(piece)
        out.append(pos)
    return out


def align_wildcard(ref: str, hyp: str) -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
    """Align a reference holding WILDCARD tokens; each one absorbs any hypothesis span for free.

    Returns the ops (reference positions count the reference without its wildcards) and the
    absorbed hypothesis spans ``[start, end)``, one per wildcard. Exact: a dynamic programme over
    where each piece between wildcards starts and ends, each piece aligned by rapidfuzz. Among
    equal totals the earliest split wins (shortest absorbed spans at the front).
    """
    pieces = ref.split(WILDCARD)
    m = len(hyp)
    cost = lambda k, i, j: edit_distance(pieces[k], hyp[i:j])  # noqa: E731
    # best[j]: minimum cost of pieces[0..k] with piece k ending exactly at hyp position j
    best = [cost(0, 0, j) for j in range(m + 1)]
    choices: list[dict[int, tuple[int, int]]] = []
    last = len(pieces) - 1
    for k in range(1, last + 1):
        reach, reach_from = [], []  # cheapest end of piece k-1 at or before each position
        for j in range(m + 1):
            if j == 0 or best[j] < reach[-1]:
                reach.append(best[j])
                reach_from.append(j)
            else:
                reach.append(reach[-1])
                reach_from.append(reach_from[-1])
        n = len(pieces[k])
        new, chosen = {}, {}
        for j in ([m] if k == last else range(m + 1)):
            top, arg = None, 0
            for i in range(j + 1):
                if top is not None and reach[i] + abs(n - (j - i)) >= top:
                    continue  # cannot beat the best start found so far
                c = reach[i] + cost(k, i, j)
                if top is None or c < top:
                    top, arg = c, i
            new[j] = top
            chosen[j] = (arg, reach_from[arg])
        choices.append(chosen)
        if k < last:
            best = [new[j] for j in range(m + 1)]
    # Walk back: piece k spans hyp[start_k:end_k]; wildcard k absorbs hyp[end_{k-1}:start_k].
    spans = [(0, 0)] * (last + 1)
    absorbed = [(0, 0)] * last
    end = m
    for k in range(last, 0, -1):
        start, prev_end = choices[k - 1][end]
        spans[k] = (start, end)
        absorbed[k - 1] = (prev_end, start)
        end = prev_end
    spans[0] = (0, end)
    ops: list[tuple[str, int, int]] = []
    offset = 0
    for piece, (start, stop) in zip(pieces, spans):
        for tag, i, j in align(piece, hyp[start:stop]):
            ops.append((tag, i + offset, j + start))
        offset += len(piece)
    return ops, absorbed
