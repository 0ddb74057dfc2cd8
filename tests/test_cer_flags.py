"""Failure flags for LLM hypotheses."""
import random

from curate.cer.evaluate import Settings, evaluate
from curate.cer.flags import _LOOP, flag_utterance, may_loop
from curate.cer.inputs import Hypotheses, Reference
from curate.cer.normalize import PROFILES, normalize
from curate.cer.units import Vocabulary, tokenize
from manifests.problems import Problems


def flags(ref_raw, hyp_raw):
    ref_norm, hyp_norm = normalize([ref_raw, hyp_raw or ""], PROFILES["zh"])
    ref_tokens, hyp_tokens = tokenize([ref_norm, hyp_norm], "mixed", Vocabulary())
    return flag_utterance(ref_raw, ref_norm, len(ref_tokens), hyp_raw, hyp_norm, len(hyp_tokens),
                          False, False)


def test_clean_hypotheses_get_no_flags():
    assert flags("导航到公司", "导航到公司") == ()
    assert flags("好的，谢谢", "好的，谢谢") == ()          # the reference starts this way too
    assert flags("哈哈哈哈哈", "哈哈哈哈哈") == ()           # so does the repetition
    assert flags("打开GPS", "打开gps") == ()


def test_missing_and_empty():
    assert flags("导航到公司", None) == ("missing",)
    assert flags("导航到公司", "。") == ("empty",)


def test_chatty_prefixes():
    for hyp in ("好的，导航到公司", "转写结果：导航到公司", "纠正后的文本：导航到公司",
                "Sure, 导航到公司", "以下是转写：导航到公司"):
        assert "chatty_prefix" in flags("导航到公司", hyp), hyp
    assert "chatty_prefix" not in flags("导航到公司", "导航：公司")  # a colon alone is not chatter
    assert "chatty_prefix" not in flags("那是哪里", "这是哪里")    # an ASR error, not a preamble


def test_chatty_suffix_and_quotes():
    assert "chatty_suffix" in flags("导航到公司", "导航到公司（注：原文可能有误）")
    assert "chatty_suffix" in flags("导航到公司", "导航到公司。希望对你有帮助！")
    assert "quoted" in flags("导航到公司", "“导航到公司”")
    assert "quoted" not in flags("“导航到公司”", "“导航到公司”")


def test_repetition_loops_and_length_outliers():
    out = flags("打开空调", "打开空调打开空调打开空调打开空调打开空调")
    assert "repetition" in out and "too_long" in out
    assert "repetition" in flags("导航到公司", "导航到的的的的的的公司")
    assert "too_short" in flags("打开车窗然后把空调温度调到二十二度", "打开车窗")


def test_script_drift():
    ref_raw, hyp_raw = "打开空调", "打開空調"
    ref_norm, hyp_norm = normalize([ref_raw, hyp_raw], PROFILES["zh"])
    assert "traditional" in flag_utterance(ref_raw, ref_norm, 4, hyp_raw, hyp_norm, 4, False, True)
    assert "traditional" not in flag_utterance(ref_raw, ref_norm, 4, hyp_raw, hyp_norm, 4, True,
                                               True)
    assert "english" in flags("打开空调", "turn on the AC")
    assert "english" in flags("打开gps", "open the gps navigation")
    assert "english" not in flags("打开gps导航", "打开gps导航")


def test_vectorised_loop_search_matches_the_regex():
    rng = random.Random(3)
    texts = ["".join(rng.choices("ab打", k=rng.randint(0, 25))) for _ in range(2000)]
    assert may_loop(texts) == {k for k, t in enumerate(texts) if _LOOP.search(t)}


def test_flags_through_a_run():
    r = Reference("ref", ["u1", "u2", "u3"], ["打开空调", "导航回家", "播放音乐"])
    h = Hypotheses("llm", "llm.tsv", {"u1": "好的，打开空调", "u2": "導航回家"}, Problems())
    ev = evaluate(r, [h], Settings(resamples=0))
    assert ev.systems["llm"].flags == [("chatty_prefix",), ("traditional",), ("missing",)]
