"""Unclear-span markers: what annotators write where they could not make out the speech (～, 【～】,
[unk], ...). The qc stage counts them and the CER scorer decides how to score around them, from
this one definition."""
from __future__ import annotations

import re
from functools import lru_cache

DEFAULT_MARKERS = ("【～】", "[unk]", "<unk>", "***", "～", "~")
CN_NUMERALS = "零〇一二两三四五六七八九十百千万亿幺"  # a tilde between numerals is a range


@lru_cache(maxsize=32)
def _marker_pattern(markers: tuple[str, ...]) -> re.Pattern | None:
    if not markers:
        return None
    alternatives = sorted(set(markers), key=len, reverse=True)  # 【～】 before ～
    return re.compile("|".join(re.escape(m) for m in alternatives), re.IGNORECASE)


def find_markers(text: str, markers=DEFAULT_MARKERS) -> list[tuple[int, str]]:
    """(position, marker) of each unclear-span marker. A lone tilde between two numbers is a range
    (20~22度), not a marker."""
    pattern = _marker_pattern(tuple(markers))
    if pattern is None:
        return []
    found = []
    for m in pattern.finditer(text):
        s, e = m.start(), m.end()
        if m.group(0) in ("~", "～") and 0 < s and e < len(text) and _is_num(text[s - 1]) \
                and _is_num(text[e]):
            continue
        found.append((s, m.group(0)))
    return found


def _is_num(ch: str) -> bool:
    return ch.isdigit() or ch in CN_NUMERALS


def strip_markers(text: str, markers=DEFAULT_MARKERS, *, replacement: str = "") -> str:
    """``text`` with each unclear-span marker replaced by ``replacement`` (removed by default)."""
    out, pos = [], 0
    for start, marker in find_markers(text, markers):
        out += [text[pos:start], replacement]
        pos = start + len(marker)
    out.append(text[pos:])
    return "".join(out)


