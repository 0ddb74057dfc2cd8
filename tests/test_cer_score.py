"""Hand-computed CER cases through the whole scoring run, and the bootstrap."""
import numpy as np
import pytest

from curate.cer.evaluate import Settings, evaluate
from curate.cer.inputs import Hypotheses, InputError, Reference
from curate.cer.score import bootstrap
from manifests.problems import Problems


def ref(pairs, fuzzy_tagged=()):
    return Reference("ref", [i for i, _ in pairs], [t for _, t in pairs], set(fuzzy_tagged))


def hyp(name, pairs):
    return Hypotheses(name, f"{name}.tsv", dict(pairs), Problems())


def run(r, *hyps, **kw):
    kw.setdefault("resamples", 200)
    return evaluate(r, list(hyps), Settings(**kw))


def counts(ev, name):
    t = ev.totals[name]
    return t.N, t.S, t.D, t.I


def test_mixed_chinese_english():
    r = ref([("u1", "打开GPS导航"), ("u2", "连上WiFi")])
    ev = run(r, hyp("a", [("u1", "打开GBS导航"), ("u2", "连上 wi fi")]))
    # u1: 打 开 gps 导 航 vs 打 开 gbs 导 航 -> 1 S; u2: 连 上 wifi vs 连 上 wi fi -> 1 S + 1 I
    assert counts(ev, "a") == (5 + 3, 2, 0, 1)
    assert ev.totals["a"].cer == pytest.approx(3 / 8)


def test_empty_hypothesis_is_all_deletions_and_flagged():
    ev = run(ref([("u1", "你好")]), hyp("a", [("u1", "")]))
    assert counts(ev, "a") == (2, 0, 2, 0)
    assert ev.systems["a"].flags == [("empty",)]


def test_empty_reference_is_scored_apart_with_its_insertions():
    r = ref([("u1", "你好"), ("e1", ""), ("e2", "。")])
    ev = run(r, hyp("a", [("u1", "你好"), ("e1", "喂喂"), ("e2", "")]))
    assert ev.empty_ref_ids == ["e1", "e2"]
    assert ev.ids == ["u1"]
    assert ev.totals["a"].cer == 0
    assert ev.systems["a"].empty_ref_insertions == 2
    assert ev.systems["a"].empty_ref_hyps == 1


def test_missing_ids_count_as_deletions_or_are_skipped_and_both_are_reported():
    r = ref([("u1", "打开空调"), ("u2", "回家")])
    a = hyp("a", [("u1", "打开空条"), ("zz", "多余")])
    ev = run(r, a)
    assert counts(ev, "a") == (6, 1, 2, 0)
    assert ev.totals_deletions["a"].cer == pytest.approx(3 / 6)
    assert ev.totals_skip["a"].cer == pytest.approx(1 / 4)
    assert ev.systems["a"].flags[1] == ("missing",)
    assert ev.systems["a"].unknown_ids == ["zz"]
    skip = run(r, a, missing="skip")
    assert counts(skip, "a") == (4, 1, 0, 0)
    assert skip.totals_deletions["a"].cer == pytest.approx(3 / 6)


def test_a_system_that_outputs_nothing_does_not_score_better():
    r = ref([(f"u{k}", "打开空调") for k in range(4)])
    silent = hyp("silent", [])
    some = hyp("some", [(f"u{k}", "打开空条") for k in range(4)])
    ev = run(r, silent, some)
    assert ev.totals["silent"].cer == 1.0
    assert ev.totals["some"].cer == 0.25


def test_one_character_utterances():
    r = ref([("u1", "好"), ("u2", "对"), ("u3", "嗯")])
    ev = run(r, hyp("a", [("u1", "号"), ("u2", "对"), ("u3", "")]))
    assert counts(ev, "a") == (3, 1, 1, 0)
    assert list(ev.systems["a"].errors) == [1, 0, 1]


def test_unclear_spans_exclude_strip_wildcard():
    r = ref([("u1", "给～打个电话"), ("u2", "播放【～】的歌"), ("u3", "回家"), ("u4", "去公司")],
            fuzzy_tagged=["u4"])
    a = hyp("a", [("u1", "给小赵打个电话"), ("u2", "播放的歌"), ("u3", "回家"), ("u4", "去工司")])
    ex = run(r, a)
    assert ex.fuzzy_ids == ["u1", "u2", "u4"] and ex.ids == ["u3"]
    strip = run(r, a, fuzzy="strip")
    # u1: 给打个电话 (5) vs 给小赵打个电话 -> 2 I; u2: 播放的歌 exact; u4 (tag only): 1 S
    assert counts(strip, "a") == (5 + 4 + 2 + 3, 1, 0, 2)
    wild = run(r, a, fuzzy="wildcard")
    assert counts(wild, "a") == (5 + 4 + 2 + 3, 1, 0, 0)
    assert wild.systems["a"].absorbed[0] == [(1, 3)]


def test_normalised_and_raw_cer():
    ev = run(ref([("u1", "打开空调。")]), hyp("a", [("u1", "打開空調")]))
    assert ev.totals["a"].cer == 0
    assert ev.raw_cer["a"] == pytest.approx(3 / 5)  # 開, 調 substituted, 。 deleted


def test_bad_settings_name_the_problem():
    r = ref([("u1", "好")])
    with pytest.raises(InputError, match="no system named 'c'"):
        run(r, hyp("a", []), corrects=(("c", "a"),))
    with pytest.raises(InputError, match="share a name"):
        run(r, hyp("a", []), hyp("a", []))
    with pytest.raises(InputError, match="--fuzzy"):
        run(r, hyp("a", []), fuzzy="ignore")


def test_bootstrap_interval_p_values_and_seed():
    rng = np.random.default_rng(1)
    n = rng.integers(5, 20, size=400)
    good = rng.binomial(n, 0.05)
    bad = rng.binomial(n, 0.15)
    masks = {k: np.ones(400, dtype=bool) for k in ("good", "bad", "same")}
    errors = {"good": good, "bad": bad, "same": good.copy()}
    res = bootstrap(n, errors, masks, [("good", "bad"), ("good", "same")], 500, seed=3)
    lo, hi = res.intervals["good"]
    assert lo < good.sum() / n.sum() < hi
    assert res.pairs[0].p_value < 0.01
    assert res.pairs[1].p_value == 1.0
    again = bootstrap(n, errors, masks, [("good", "bad")], 500, seed=3)
    assert again.intervals == {k: res.intervals[k] for k in again.intervals}
    other = bootstrap(n, errors, masks, [], 500, seed=4)
    assert other.intervals["good"] != res.intervals["good"]


def test_bootstrap_pairs_use_utterances_both_systems_answered():
    n = np.array([10, 10, 10, 10])
    errors = {"a": np.array([1, 1, 1, 10]), "b": np.array([1, 1, 1, 0])}
    masks = {"a": np.array([True, True, True, True]), "b": np.array([True, True, True, False])}
    res = bootstrap(n, errors, masks, [("a", "b")], 100, seed=0)
    assert res.pairs[0].utterances == 3
    assert res.pairs[0].cer_a == res.pairs[0].cer_b == pytest.approx(0.1)


def test_scoring_leaves_the_garbage_collector_as_it_found_it(monkeypatch):
    """The collector is paused while scoring and put back as it was, an error or not."""
    import gc

    from curate.cer import units

    r = ref([("u1", "打开空调")])
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            run(r, hyp("a", [("u1", "打开空条")]))
            assert gc.isenabled() is enabled
            with monkeypatch.context() as m:  # room for two word codes; the hypothesis has three
                m.setattr(units, "_LAST", units._FIRST + 1)
                with pytest.raises(InputError, match="distinct multi-character tokens"):
                    run(r, hyp("a", [("u1", "gps wifi ok")]))
            assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
