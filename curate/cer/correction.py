"""Correction accounting for ``--corrects B:A``: what system B (a corrector) did to A's output.

Both are aligned to the same reference, and errors are placed on it: a substitution or deletion
is an error *at* a reference token, an insertion an error in the gap *before* a reference token
(or after the last). Then, position by position:

- fixed:      A wrong there, B right (for insertions: A's surplus in that gap over B's)
- introduced: A right there, B wrong (for insertions: B's surplus over A's)
- persisted:  both wrong (for insertions: as many as both inserted)

so A's errors = fixed + persisted and B's errors = introduced + persisted. Fix rate = fixed / A's
errors; over-correction rate = reference tokens A had right and B broke / tokens A had right.
Per utterance, B either left A's text unchanged or edited it, and an edit improved, degraded or
kept the utterance's error count. Oracle CER takes, per utterance, the better of A and B.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Correction:
    a: str
    b: str
    utterances: int
    N: int
    errors_a: int
    errors_b: int
    fixed: int
    introduced: int
    persisted: int
    correct_a: int
    broken: int
    unchanged: int
    edited: int
    improved: int
    degraded: int
    edited_same_errors: int
    oracle_errors: int

    @property
    def cer_a(self) -> float | None:
        return self.errors_a / self.N if self.N else None

    @property
    def cer_b(self) -> float | None:
        return self.errors_b / self.N if self.N else None

    @property
    def fix_rate(self) -> float | None:
        return self.fixed / self.errors_a if self.errors_a else None

    @property
    def over_correction_rate(self) -> float | None:
        return self.broken / self.correct_a if self.correct_a else None

    @property
    def relative_reduction(self) -> float | None:
        return (self.errors_a - self.errors_b) / self.errors_a if self.errors_a else None

    @property
    def oracle_cer(self) -> float | None:
        return self.oracle_errors / self.N if self.N else None

    def to_dict(self) -> dict:
        return {**asdict(self), "cer_a": self.cer_a, "cer_b": self.cer_b,
                "fix_rate": self.fix_rate, "over_correction_rate": self.over_correction_rate,
                "relative_cer_reduction": self.relative_reduction, "oracle_cer": self.oracle_cer}


def error_positions(n: np.ndarray, ops_per_utt, include: np.ndarray):
    """Wrong reference tokens (bool per token) and insertions per gap, over all utterances.

    Utterance u's tokens start at ``cumsum(n)[u-1]``; its n[u] + 1 gaps start at that plus u.
    """
    token_start = np.concatenate(([0], np.cumsum(n)[:-1]))
    wrong_at, inserted_at = [], []
    for u, ops in enumerate(ops_per_utt):
        if not ops or not include[u]:
            continue
        t0 = int(token_start[u])
        g0 = t0 + u
        for tag, i, _ in ops:
            if tag == "insert":
                inserted_at.append(g0 + i)
            else:
                wrong_at.append(t0 + i)
    total = int(n.sum())
    wrong = np.zeros(total, dtype=bool)
    wrong[np.asarray(wrong_at, dtype=np.int64)] = True
    inserted = np.bincount(np.asarray(inserted_at, dtype=np.int64), minlength=total + len(n))
    return wrong, inserted


def account(a: str, b: str, n: np.ndarray, ops_a, ops_b, errors_a: np.ndarray,
            errors_b: np.ndarray, same_text: np.ndarray, include: np.ndarray) -> Correction:
    """Correction accounting over the utterances where ``include`` is set.

    ``errors_*`` are per-utterance S+D+I; ``same_text`` marks utterances where B's scored
    tokens equal A's.
    """
    wrong_a, ins_a = error_positions(n, ops_a, include)
    wrong_b, ins_b = error_positions(n, ops_b, include)
    token_in = np.repeat(include, n)
    both_ins = np.minimum(ins_a, ins_b)
    fixed = int(np.count_nonzero(wrong_a & ~wrong_b)) + int((ins_a - both_ins).sum())
    introduced_tokens = int(np.count_nonzero(~wrong_a & wrong_b))
    introduced = introduced_tokens + int((ins_b - both_ins).sum())
    persisted = int(np.count_nonzero(wrong_a & wrong_b)) + int(both_ins.sum())
    ea, eb = errors_a[include], errors_b[include]
    same = same_text[include]
    edited = ~same
    return Correction(
        a=a, b=b, utterances=int(include.sum()), N=int(n[include].sum()),
        errors_a=int(ea.sum()), errors_b=int(eb.sum()),
        fixed=fixed, introduced=introduced, persisted=persisted,
        correct_a=int(np.count_nonzero(token_in & ~wrong_a)), broken=introduced_tokens,
        unchanged=int(same.sum()), edited=int(edited.sum()),
        improved=int(np.count_nonzero(edited & (eb < ea))),
        degraded=int(np.count_nonzero(edited & (eb > ea))),
        edited_same_errors=int(np.count_nonzero(edited & (eb == ea))),
        oracle_errors=int(np.minimum(ea, eb).sum()))
