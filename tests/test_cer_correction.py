"""Correction accounting (--corrects B:A) on hand-computed cases."""
import pytest

from curate.cer.evaluate import Settings, evaluate
from curate.cer.inputs import Hypotheses, Reference
from manifests.problems import Problems

REF = [("u1", "今天天气很好"), ("u2", "打开空调"), ("u3", "导航回家"), ("u4", "播放音乐"),
       ("u5", "你好")]
A = [("u1", "今天天汽很好"), ("u2", "打开空条"), ("u3", "导航会家"), ("u4", "播放音乐"),
     ("u5", "你你好")]
B = [("u1", "今天天气很号"),    # fixes 汽, breaks 好: fixed 1, introduced 1 (same errors)
     ("u2", "打开空条吧"),      # keeps 条, inserts 吧: persisted 1, introduced 1 (degraded)
     ("u3", "导航回家"),        # fixes 会: fixed 1 (improved)
     ("u4", "播放音乐"),        # unchanged
     ("u5", "你你好")]          # same insertion: persisted 1 (unchanged)


def evaluation(**kw):
    r = Reference("ref", [i for i, _ in REF], [t for _, t in REF])
    hyps = [Hypotheses(n, n, dict(p), Problems()) for n, p in (("A", A), ("B", B))]
    return evaluate(r, hyps, Settings(corrects=(("B", "A"),), resamples=0, **kw))


def test_fixed_introduced_persisted():
    c = evaluation().corrections[0]
    assert (c.a, c.b, c.utterances, c.N) == ("A", "B", 5, 20)
    assert (c.errors_a, c.errors_b) == (4, 4)
    assert (c.fixed, c.introduced, c.persisted) == (2, 2, 2)
    assert c.errors_a == c.fixed + c.persisted and c.errors_b == c.introduced + c.persisted
    assert c.fix_rate == pytest.approx(2 / 4)
    # A had 20 - 3 wrong tokens = 17 right; B broke one of them (好 -> 号)
    assert (c.correct_a, c.broken) == (17, 1)
    assert c.over_correction_rate == pytest.approx(1 / 17)


def test_utterance_outcomes_relative_reduction_and_oracle():
    c = evaluation().corrections[0]
    assert (c.unchanged, c.edited) == (2, 3)
    assert (c.improved, c.degraded, c.edited_same_errors) == (1, 1, 1)
    assert c.relative_reduction == 0
    # per utterance min(A, B): u1 1, u2 1, u3 0, u4 0, u5 1
    assert c.oracle_errors == 3 and c.oracle_cer == pytest.approx(3 / 20)


def test_missing_corrector_output_under_both_policies():
    global B
    saved = B
    B = [p for p in saved if p[0] != "u3"]
    try:
        counted = evaluation().corrections[0]
        skipped = evaluation(missing="skip").corrections[0]
    finally:
        B = saved
    # counted: u3 becomes all deletions in B -> A's 1 error persists, 3 right tokens broken
    assert (counted.fixed, counted.introduced, counted.persisted) == (1, 5, 3)
    assert skipped.utterances == 4 and skipped.N == 16
    assert (skipped.fixed, skipped.introduced, skipped.persisted) == (1, 2, 2)
