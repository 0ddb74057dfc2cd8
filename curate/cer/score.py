"""Per-system totals, bootstrap confidence intervals and paired bootstrap p-values.

Resampling is over utterances (an utterance's errors stay together), seeded, and vectorised: one
draw of resample weights serves every system and every pair, so the systems are compared on the
same resamples (paired). The interval is the percentile interval of the resampled CER. The p-value
for "A and B have the same CER" is two-sided, from the bootstrap distribution of the difference
shifted to the null: p = (1 + #{|d* - d| >= |d|}) / (1 + resamples), where d is the observed
difference and d* a resampled one (Efron & Tibshirani 1993, ch. 16).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
_CELLS_PER_CHUNK = 2_000_000  # resamples x utterances drawn at once: bounds memory to ~50 MB


@dataclass(frozen=True)
class Totals:
    utterances: int
    N: int
    C: int
    S: int
    D: int
    I: int  # noqa: E741  (the conventional name)

    @property
    def errors(self) -> int:
        return self.S + self.D + self.I

    @property
    def cer(self) -> float | None:
        return self.errors / self.N if self.N else None


def totals(n: np.ndarray, s: np.ndarray, d: np.ndarray, i: np.ndarray, mask: np.ndarray) -> Totals:
    N, S, D = int(n[mask].sum()), int(s[mask].sum()), int(d[mask].sum())
    return Totals(int(mask.sum()), N, N - S - D, S, D, int(i[mask].sum()))


@dataclass(frozen=True)
class PairTest:
    a: str
    b: str
    utterances: int
    cer_a: float | None
    cer_b: float | None
    p_value: float | None


@dataclass(frozen=True)
class BootstrapResult:
    intervals: dict[str, tuple[float, float] | None]
    pairs: list[PairTest]


def bootstrap(n: np.ndarray, errors: dict[str, np.ndarray], masks: dict[str, np.ndarray],
              pairs: list[tuple[str, str]], resamples: int, seed: int) -> BootstrapResult:
    """CER intervals per system and p-values per pair, from ``resamples`` utterance resamples.

    ``n`` holds reference tokens per utterance, ``errors[name]`` that system's S+D+I per
    utterance, and ``masks[name]`` which utterances count for it (all, unless missing ones are
    skipped); a pair is compared on the utterances both count.
    """
    names = list(errors)
    columns = []
    for name in names:
        m = masks[name]
        columns += [errors[name] * m, n * m]
    for a, b in pairs:
        m = masks[a] & masks[b]
        columns += [errors[a] * m, errors[b] * m, n * m]
    values = np.stack(columns, axis=1).astype(np.float64) if columns else np.zeros((0, 0))
    observed = values.sum(axis=0)
    sums = _resampled_sums(values, resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        intervals = {}
        for k, name in enumerate(names):
            cer = sums[:, 2 * k] / sums[:, 2 * k + 1]
            intervals[name] = _interval(cer)
        tests, base = [], 2 * len(names)
        for p, (a, b) in enumerate(pairs):
            ea, eb, nn = (sums[:, base + 3 * p + c] for c in range(3))
            oa, ob, on = observed[base + 3 * p: base + 3 * p + 3]
            cer_a, cer_b = _ratio(oa, on), _ratio(ob, on)
            p_value = None
            if cer_a is not None and resamples > 0:
                diff = (ea - eb) / nn
                diff = diff[np.isfinite(diff)]
                d = cer_a - cer_b
                extreme = int(np.count_nonzero(np.abs(diff - d) >= abs(d) - 1e-12))
                p_value = (1 + extreme) / (1 + diff.size)
            tests.append(PairTest(a, b, int((masks[a] & masks[b]).sum()), cer_a, cer_b, p_value))
    return BootstrapResult(intervals, tests)


def _resampled_sums(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Column sums of ``values`` over ``resamples`` draws of its rows with replacement."""
    u, k = values.shape
    out = np.empty((resamples, k))
    if resamples == 0 or u == 0:
        out.fill(np.nan)
        return out
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CELLS_PER_CHUNK // u))
    weights = np.empty((chunk, u))
    for start in range(0, resamples, chunk):
        c = min(chunk, resamples - start)
        idx = rng.integers(0, u, size=(c, u))
        # how often each utterance was drawn, per resample, so the sums are one matrix product
        # (row by row: one bincount over all rows at once thrashes the cache)
        for r in range(c):
            weights[r] = np.bincount(idx[r], minlength=u)
        out[start:start + c] = weights[:c] @ values
    return out


def _interval(cer: np.ndarray) -> tuple[float, float] | None:
    cer = cer[np.isfinite(cer)]
    if cer.size == 0:
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(cer, [tail, 100 - tail])
    return float(lo), float(hi)


def _ratio(e: float, n: float) -> float | None:
    return float(e / n) if n else None
