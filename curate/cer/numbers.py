"""Number policy: how Arabic numerals are compared with Chinese numerals.

Only ever Arabic → Chinese, never the other way: converting Chinese numerals to digits breaks
idioms and names (三心二意 must not become 3心2意), while Arabic digits in Mandarin text are
always read aloud as Chinese numerals.

- ``keep``    leave numbers as written (default; the safe choice).
- ``digits``  read every digit on its own: 110 → 一一零, 3.5 → 三点五 (phone numbers, plates).
- ``spoken``  read integers as quantities: 25 → 二十五, 10005 → 一万零五, 3.5 → 三点五,
              50% → 百分之五十; a 4-digit year before 年, numbers with a leading zero and numbers
              over 8 digits are read digit by digit (2024年 → 二零二四年, 0571 → 零五七一).
"""
from __future__ import annotations

import re

POLICIES = ("keep", "digits", "spoken")
_DIGIT = "零一二三四五六七八九"
_NUMBER = re.compile(r"([0-9]+)(?:\.([0-9]+))?(%)?(年)?")


def convert_numbers(text: str, policy: str) -> str:
    if policy == "keep":
        return text
    if policy == "digits":
        return _NUMBER.sub(_read_digits, text)
    if policy == "spoken":
        return _NUMBER.sub(_read_spoken, text)
    raise ValueError(f"unknown number policy {policy!r}; expected one of {', '.join(POLICIES)}")


def digit_by_digit(s: str) -> str:
    return "".join(_DIGIT[int(d)] for d in s)


def _read_digits(m: re.Match) -> str:
    whole, frac, percent, year = m.groups()
    out = digit_by_digit(whole) + ("点" + digit_by_digit(frac) if frac else "")
    return out + (percent or "") + (year or "")


def _read_spoken(m: re.Match) -> str:
    whole, frac, percent, year = m.groups()
    if year and len(whole) == 4 and not frac and not percent:
        return digit_by_digit(whole) + year
    if len(whole) > 8 or (len(whole) > 1 and whole[0] == "0"):
        out = digit_by_digit(whole)
    else:
        out = quantity(int(whole))
    if frac:
        out += "点" + digit_by_digit(frac)
    if percent:
        out = "百分之" + out
    return out + (year or "")


def quantity(n: int) -> str:
    """Chinese reading of 0 <= n < 10**12: 10 → 十, 115 → 一百一十五, 10005 → 一万零五."""
    if n == 0:
        return "零"
    groups = []
    while n:
        n, g = divmod(n, 10000)
        groups.append(g)
    out: list[str] = []
    for k in range(len(groups) - 1, -1, -1):
        g = groups[k]
        if g == 0:
            continue
        higher = bool(out)
        if higher and (g < 1000 or groups[k + 1] == 0):
            out.append("零")  # a gap of zeros before this group is read once
        out.append(_group(g) + ("", "万", "亿")[k])
    text = "".join(out)
    return text[1:] if text.startswith("一十") else text


def _group(g: int) -> str:
    """Reading of 1..9999 without leading 零; inner runs of zeros read as one 零 (1005 → 一千零五)."""
    out: list[str] = []
    gap = False
    for digit, unit in zip(f"{g:04d}", ("千", "百", "十", "")):
        if digit == "0":
            gap = bool(out)
            continue
        if gap:
            out.append("零")
            gap = False
        out.append(_DIGIT[int(digit)] + unit)
    return "".join(out)
