"""Failure flags for hypotheses, aimed at the ways an audio LLM goes wrong.

- ``missing``        no line for this id in the hypothesis file
- ``empty``          the hypothesis is empty (after normalisation) though the reference is not
- ``chatty_prefix``  a preamble: 好的，/ 当然。/ 转写结果：/ 纠正后的文本：/ Sure, / Here is ...
- ``chatty_suffix``  a trailer: （注：...）/ 希望对你有帮助 / 如有其他需要 ... / 以上是 ...
- ``quoted``         the whole hypothesis is wrapped in quotes
- ``repetition``     a span of 1-10 characters repeated 4+ times in a row (a decoding loop)
- ``too_long``       hypothesis tokens >= 2 x reference tokens + 4
- ``too_short``      non-empty, and 2 x hypothesis tokens + 4 <= reference tokens
- ``traditional``    traditional characters (OpenCC t2s changes the raw text)
- ``english``        Latin words where the reference has none, or 2+ more than it has

A prefix, suffix, quote, loop or script that the reference itself shows is not flagged.
"""
from __future__ import annotations

import re

import numpy as np

FLAGS = ("missing", "empty", "chatty_prefix", "chatty_suffix", "quoted", "repetition",
         "too_long", "too_short", "traditional", "english")

_OPENER = re.compile(r"\s*(?:(?:好的|好|当然|没问题|可以|明白了?|收到|sure|okay|ok|certainly)\s*"
                     r"[,，。.!！:：]|here is|here's|以下是|下面是)", re.IGNORECASE)
_LABEL = re.compile(r"\s*([^:：\n]{1,20})[:：]")
_LABEL_WORDS = re.compile(r"转写|转录|识别|纠正|纠错|修正|修改|校正|更正|结果|文本|内容|答案|输出|"
                          r"transcri|correct|result|output|text", re.IGNORECASE)
_SUFFIX = re.compile(r"(?:[（(]\s*(?:注|备注|说明|解释|note)|希望.{0,10}帮助|如(?:有|果)(?:其他|任何|需要)"
                     r"|以上(?:是|为|就是)|(?:let me know|hope this helps))", re.IGNORECASE)
_QUOTES = {'"': '"', "“": "”", "「": "」", "『": "』", "‘": "’", "'": "'", "《": "》"}
_LOOP_UNIT = 10   # longest repeated span looked for
_LOOP_COPIES = 4
_LOOP = re.compile(rf"(.{{1,{_LOOP_UNIT}}}?)\1{{{_LOOP_COPIES - 1},}}")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_NON_WORD = re.compile(r"[\W_]+")


def flag_system(ref_raw, ref_norm, ref_len, hyp_raw, hyp_norm, hyp_len, ref_traditional,
                hyp_traditional) -> list[tuple[str, ...]]:
    """Flags of every hypothesis of one system (lists aligned by utterance)."""
    loops = may_loop(hyp_norm)
    return [flag_utterance(ref_raw[k], ref_norm[k], ref_len[k], hyp_raw[k], hyp_norm[k],
                           hyp_len[k], ref_traditional[k], hyp_traditional[k], k in loops)
            for k in range(len(hyp_raw))]


def may_loop(texts: list[str]) -> set[int]:
    """Indices of the texts that repeat a span of 1-10 characters 4+ times in a row.

    Vectorised over all texts at once: a span of length L repeats 4 times at i exactly when
    text[t] == text[t + L] for the 3L positions t from i on. Each text is followed by a
    separator code of its own, so no run crosses from one text into the next.
    """
    if not texts:
        return set()
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    joined = ("\n".join(texts) + "\n").encode("utf-32-le", "surrogatepass")
    codes = np.frombuffer(joined, dtype=np.uint32).astype(np.int64)
    codes[starts + lengths - 1] = 0x110000 + np.arange(len(texts))  # beyond any code point
    found: set[int] = set()
    for unit in range(1, _LOOP_UNIT + 1):
        span = unit * (_LOOP_COPIES - 1)
        if codes.size <= unit + span:
            break
        same = np.concatenate(([0], np.cumsum(codes[:-unit] == codes[unit:])))
        hits = np.flatnonzero(same[span:] - same[:-span] == span)
        found.update(np.searchsorted(starts, hits, side="right") - 1)
    return {int(k) for k in found}


def flag_utterance(ref_raw: str, ref_norm: str, ref_len: int, hyp_raw: str | None,
                   hyp_norm: str, hyp_len: int, ref_traditional: bool,
                   hyp_traditional: bool, loop_possible: bool = True) -> tuple[str, ...]:
    """The flags of one hypothesis (``hyp_raw`` None when the id had no hypothesis line).

    ``loop_possible`` False skips the repetition search (``may_loop`` already ruled it out).
    """
    if hyp_raw is None:
        return ("missing",)
    if not hyp_norm:
        return ("empty",) if ref_len else ()
    flags = []
    if _chatty_prefix(hyp_raw, ref_norm):
        flags.append("chatty_prefix")
    if _SUFFIX.search(hyp_raw) and not _SUFFIX.search(ref_raw):
        flags.append("chatty_suffix")
    if hyp_raw[:1] in _QUOTES and _quoted(hyp_raw) and not _quoted(ref_raw):
        flags.append("quoted")
    m = _LOOP.search(hyp_norm) if loop_possible else None
    if m and m.group(1) * _LOOP_COPIES not in ref_norm:
        flags.append("repetition")
    if hyp_len >= 2 * ref_len + 4:
        flags.append("too_long")
    elif 2 * hyp_len + 4 <= ref_len:
        flags.append("too_short")
    if hyp_traditional and not ref_traditional:
        flags.append("traditional")
    if _LATIN_WORD.search(hyp_norm):
        hyp_words = len(_LATIN_WORD.findall(hyp_norm))
        ref_words = len(_LATIN_WORD.findall(ref_norm))
        if ref_words == 0 or hyp_words >= ref_words + 2:
            flags.append("english")
    return tuple(flags)


def _chatty_prefix(hyp_raw: str, ref_norm: str) -> bool:
    m = _OPENER.match(hyp_raw)
    if m is None:
        if ":" not in hyp_raw and "：" not in hyp_raw:
            return False
        m = _LABEL.match(hyp_raw)
        if m is None or not _LABEL_WORDS.search(m.group(1)):
            return False
    # The reference may itself start this way ("好的，谢谢"): then it is content, not chatter.
    said = _NON_WORD.sub("", m.group()).casefold()
    return not _NON_WORD.sub("", ref_norm).casefold().startswith(said)


def _quoted(text: str) -> bool:
    text = text.strip()
    return len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]
