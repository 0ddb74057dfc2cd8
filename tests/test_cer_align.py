"""Alignment: rapidfuzz edit operations against a plain Levenshtein, jiwer, and the wildcard DP."""
import itertools
import random

import jiwer
from hypothesis import given, settings, strategies as st

from curate.cer.align import align, align_wildcard, count_ops, edit_distance
from curate.cer.fuzzy import WILDCARD
from curate.cer.units import Vocabulary, tokenize
from curate.cer.view import columns


def levenshtein(a, b) -> int:
    """Textbook dynamic programme, the independent oracle."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


TEXT = st.text(alphabet="ab打开空调", max_size=12)
WORDS = st.lists(st.sampled_from(["打", "开", "gps", "wifi", "a", "导航"]), max_size=10)


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT)
def test_totals_equal_plain_levenshtein_on_random_strings(ref, hyp):
    ops = align(ref, hyp)
    s, d, i = count_ops(ops)
    assert s + d + i == levenshtein(ref, hyp) == edit_distance(ref, hyp)
    assert d - i == len(ref) - len(hyp)
    cells = columns(ref, hyp, ops)  # the ops rebuild both sides, in order
    assert "".join(r.replace(" ", "") for r, _, _ in cells if r) == ref
    assert "".join(h.replace(" ", "") for _, h, _ in cells if h) == hyp


@settings(max_examples=200, deadline=None)
@given(WORDS, WORDS)
def test_word_tokens_align_as_units(ref, hyp):
    vocab = Vocabulary()
    a, b = tokenize([" ".join(ref), " ".join(hyp)], "word", vocab)
    s, d, i = count_ops(align(a, b))
    assert s + d + i == levenshtein(ref, hyp)


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_each_run_of_edits_pairs_substitutions_first(ref, hyp):
    """The documented tie-break: between matches, S = min(ref run, hyp run)."""
    run = {"ref": 0, "hyp": 0, "S": 0}
    for r, h, tag in columns(ref, hyp, align(ref, hyp)) + [("", "", "")]:
        if tag:
            run["ref"] += r is not None
            run["hyp"] += h is not None
            run["S"] += tag == "replace"
        else:
            assert run["S"] == min(run["ref"], run["hyp"])
            run = {"ref": 0, "hyp": 0, "S": 0}


def test_tie_break_examples():
    assert align("abcd", "xy") == [("replace", 0, 0), ("replace", 1, 1), ("delete", 2, 2),
                                   ("delete", 3, 2)]
    assert align("ab", "ba") == [("insert", 0, 0), ("delete", 1, 2)]


def test_equal_totals_to_jiwer_on_unnormalised_input():
    rng = random.Random(7)
    chars = "打开空调导航回家音乐电话的了吗"
    refs = ["".join(rng.choices(chars, k=rng.randint(1, 20))) for _ in range(300)]
    hyps = ["".join(rng.choices(chars, k=rng.randint(0, 22))) for _ in range(300)]
    ours = [count_ops(align(r, h)) for r, h in zip(refs, hyps)]
    out = jiwer.process_characters(refs, hyps)
    assert (sum(o[0] for o in ours), sum(o[1] for o in ours), sum(o[2] for o in ours)) == \
        (out.substitutions, out.deletions, out.insertions)


def brute_force_wildcard(pieces, hyp) -> int:
    """Minimum over every way to cut the hypothesis around the wildcards."""
    best = None
    m = len(hyp)
    for cuts in itertools.combinations_with_replacement(range(m + 1), 2 * (len(pieces) - 1)):
        bounds = [0, *cuts, m]
        cost = sum(levenshtein(p, hyp[bounds[2 * k]:bounds[2 * k + 1]])
                   for k, p in enumerate(pieces))
        best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=120, deadline=None)
@given(st.lists(st.text(alphabet="ab打", max_size=4), min_size=2, max_size=3),
       st.text(alphabet="ab打x", max_size=7))
def test_wildcard_alignment_is_exact(pieces, hyp):
    ref = WILDCARD.join(pieces)
    ops, absorbed = align_wildcard(ref, hyp)
    assert len(ops) == brute_force_wildcard(pieces, hyp)
    assert len(absorbed) == len(pieces) - 1
    kept = "".join(pieces)
    cuts = [sum(len(p) for p in pieces[:k + 1]) for k in range(len(pieces) - 1)]
    cells = columns(kept, hyp, ops, cuts, absorbed)
    assert "".join(h.replace(" ", "") for _, h, _ in cells if h) == hyp
    assert "".join(r.replace(" ", "") for r, _, t in cells if r and t != "absorb") == kept


def test_wildcard_hand_cases():
    assert align_wildcard(f"给{WILDCARD}打个电话", "给小赵打个电话") == ([], [(1, 3)])
    assert align_wildcard(f"给{WILDCARD}打个电话", "给打电话") == ([("delete", 2, 2)], [(1, 1)])
    vocab = Vocabulary()
    ref, hyp = tokenize([f"a {WILDCARD} hello b", "a x hello c"], "word", vocab)
    ops, absorbed = align_wildcard(ref, hyp)
    assert ops == [("replace", 2, 3)] and absorbed == [(1, 2)]
