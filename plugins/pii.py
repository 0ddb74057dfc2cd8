"""Personal data in Mandarin transcripts: phone, landline, resident ID, plate, bank card, e-mail and
street address detectors, and masking for logs and shared copies.

Numbers are found as runs of digits, written (``138 1234-5678``, full-width too) or spoken one by
one (幺三八零零…, with 一/幺 for 1, 两 for 2, 零/〇 for 0). A run is only personal data when its
shape says so: eleven digits starting 13-19 (mobile), an area code and a local number (landline),
eighteen characters with a valid GB 11643 check character and birth date (ID), 16-19 digits with a
valid Luhn digit (bank card). Ordinary in-car numbers never take those shapes: spoken quantities
use 十/百/千 (二十四度) and break into short runs; temperatures, speeds, times, dates, volumes,
metro lines, flight and train numbers are a few digits long.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("phone", "landline", "id", "plate", "bankcard", "email", "address")

_SPOKEN = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
           "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
# Characters that may sit between digit groups of one number: spaces, dashes, dots in speech
# transcripts (幺三八，零零幺三), and brackets round an area code.
_JOINERS = set(" \u3000-–—－·•・,，、()（）")
_X = set("Xx叉")  # the ID check character 10
MAX_DIGITS = 23    # the longest number looked for: 0086 and a 19-digit card


def _digit(ch: str) -> str | None:
    if "0" <= ch <= "9":
        return ch
    if "０" <= ch <= "９":
        return chr(ord(ch) - 0xFEE0)
    return _SPOKEN.get(ch)


@dataclass(frozen=True)
class Hit:
    """One piece of personal data: its kind and where it sits in the text (``text[start:end]``)."""

    kind: str
    start: int
    end: int
    value: str  # canonical form: digits for numbers, upper-case plate, the e-mail, the address

    def masked(self) -> str:
        return mask(self.value, self.kind)


# --- digit runs ------------------------------------------------------------------------------

@dataclass
class _Group:
    start: int
    end: int
    digits: str
    spoken: bool


def _groups(text: str) -> list[list[_Group]]:
    """Runs of digit groups. Groups split at joiners and where written and spoken digits meet;
    a run ends at anything else."""
    runs: list[list[_Group]] = []
    run: list[_Group] = []
    i, n = 0, len(text)
    while i < n:
        d = _digit(text[i])
        if d is None:
            if run and text[i] in _JOINERS and i + 1 < n and _digit(text[i + 1]) is not None:
                i += 1
                continue
            if run and text[i] in _X and run[-1].end == i and (
                    i + 1 >= n or not (text[i + 1].isascii() and text[i + 1].isalnum())):
                run[-1].digits += "X"
                run[-1].end = i + 1
            if run:
                runs.append(run)
                run = []
            i += 1
            continue
        spoken = not text[i].isdigit() and not ("０" <= text[i] <= "９")
        last = run[-1] if run else None
        if last and last.end == i and last.spoken == spoken and not last.digits.endswith("X"):
            last.digits += d
            last.end = i + 1
        else:
            run.append(_Group(i, i + 1, d, spoken))
        i += 1
    if run:
        runs.append(run)
    return runs


def _classify(digits: str) -> tuple[str, str] | None:
    """(kind, canonical digits) when a digit string has the shape of personal data."""
    if len(digits) == 18 and _id_shaped(digits):
        # An ID with a wrong check character is a slip, not a bank card that happens to pass Luhn.
        return ("id", digits) if id_check_char(digits[:17]) == digits[17] else None
    digits = digits.rstrip("X") if digits.count("X") == 1 and digits.endswith("X") else digits
    if "X" in digits:
        return None
    m = re.fullmatch(r"(?:0086|86)?(1[3-9]\d{9})", digits)
    if m:
        return "phone", m.group(1)
    if re.fullmatch(r"0(?:10|2\d)[2-9]\d{7}|0[3-9]\d{2}[2-9]\d{6,7}", digits):
        return "landline", digits
    if 16 <= len(digits) <= 19 and digits[0] in "3456" and _luhn(digits):
        return "bankcard", digits
    return None


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits of a resident ID."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def _id_shaped(s: str) -> bool:
    """A region code, then a birth date: the shape of a resident ID, whatever its check digit."""
    if not (s[:17].isdigit() and s[0] in "123456789"):
        return False
    year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _number_hits(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for run in _groups(text):
        used = [False] * len(run)
        # Longest combination of consecutive groups first: "15 13812345678" is a volume and a phone.
        for size in range(min(len(run), MAX_DIGITS), 0, -1):
            for a in range(len(run) - size + 1):
                groups = run[a:a + size]
                if any(used[a:a + size]) or sum(len(g.digits) for g in groups) > MAX_DIGITS:
                    continue
                hit = _match_groups(text, groups)
                if hit:
                    hits.append(hit)
                    used[a:a + size] = [True] * size
    return hits


def _match_groups(text: str, groups: list[_Group]) -> Hit | None:
    digits = "".join(g.digits for g in groups)
    start, end = groups[0].start, groups[-1].end
    found = _classify(digits)
    # A spoken 一 or 两 at the edge may belong to the next word (幺三八…零零一下, 两个).
    if found is None and groups[-1].spoken and text[end - 1] == "一":
        found, end = _classify(digits[:-1]), end - 1
    if found is None and groups[0].spoken and text[start] in "一两":
        found, start, end = _classify(digits[1:]), start + 1, groups[-1].end
    if found is None:
        return None
    if found[0] == "phone" and len(digits) > 11 and start == groups[0].start:
        start = _skip_digits(text, start, len(digits) - 11)  # the country code is no one's
    return Hit(found[0], start, end, found[1])


def _skip_digits(text: str, pos: int, count: int) -> int:
    """The position after ``count`` more digits from ``pos``, and the joiners after them."""
    while count:
        if _digit(text[pos]) is not None:
            count -= 1
        pos += 1
    while text[pos] in _JOINERS:
        pos += 1
    return pos


# --- plates, e-mail, addresses ---------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    rf"([{PROVINCES}])\s?([A-HJ-NP-Z])[·•・\s-]?([A-HJ-NP-Z0-9]{{4,6}}[学警挂港澳]?)(?![A-Z0-9])")


def _plate_view(text: str) -> str:
    """``text`` with spoken digits as ASCII and letters in upper case, for the plate pattern;
    the same length, so positions carry over."""
    return "".join(_digit(c) or (c.upper() if c.isascii() else c) for c in text)


def _plate_hits(text: str) -> list[Hit]:
    hits = []
    view = _plate_view(text)
    for m in _PLATE.finditer(view):
        if m.start() > 0 and view[m.start() - 1].isascii() and view[m.start() - 1].isalnum():
            continue
        tail = m.group(3)
        if not _plate_tail(tail):
            continue
        hits.append(Hit("plate", m.start(), m.end(), m.group(1) + m.group(2) + tail))
    return hits


def _plate_tail(tail: str) -> bool:
    """Shapes issued after the letter: 5 characters (at least 3 digits); new-energy 6 (D/F first
    with 4 trailing digits, or 5 digits then D/F); 4 and 学/警/挂/港/澳."""
    if tail[-1] in "学警挂港澳":
        return len(tail) == 5 and sum(c.isdigit() for c in tail[:4]) >= 3
    if len(tail) == 5:
        return sum(c.isdigit() for c in tail) >= 3
    if len(tail) == 6:
        return (tail[0] in "DF" and tail[2:].isdigit()) or (tail[:5].isdigit() and tail[5] in "DF")
    return False


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9][A-Za-z0-9._%+-]*)\s*(?:@|＠|艾特|圈a|\bat\b)\s*"
    r"([A-Za-z0-9][A-Za-z0-9-]*(?:\s*(?:\.|。|点|\bdot\b)\s*[A-Za-z0-9-]+)*"
    r"\s*(?:\.|。|点|\bdot\b)\s*(?:com|cn|net|org|edu|gov|io|me|co))(?![A-Za-z])", re.IGNORECASE)


def _email_hits(text: str) -> list[Hit]:
    hits = []
    for m in _EMAIL.finditer(text):
        domain = re.sub(r"\s*(?:。|点|\bdot\b)\s*", ".", m.group(2), flags=re.IGNORECASE)
        domain = re.sub(r"\s+", "", domain)
        hits.append(Hit("email", m.start(), m.end(), f"{m.group(1)}@{domain}".lower()))
    return hits


_NUM = r"(?:[0-9０-９]{1,5}|[零〇一二两三四五六七八九十百千幺]{1,8})"
_STREET = r"(?:大街|大道|路|街|巷|胡同|弄)"
# A street name, then a house number: 中关村大街27号, 世纪大道1198号3栋, 长乐路两百号.
_STREET_ADDRESS = re.compile(
    rf"([\u4e00-\u9fff]{{2,12}}?{_STREET})({_NUM}(?:[之-]{_NUM})?[号弄])"
    rf"((?:{_NUM}(?:号楼|栋|幢|座|单元|楼|层|室|号))*)")
# A building, unit and room inside a compound: 3号楼2单元502室, 5栋1204.
_UNIT_ADDRESS = re.compile(
    rf"({_NUM}(?:号楼|栋|幢|座))({_NUM}单元)?({_NUM}(?:室|号|房)?)?")
# Generic words ending in a street suffix that name no street (这条路3号 is a date, 公路 a road).
_NOT_STREETS = {"公路", "马路", "道路", "环路", "一路", "条路", "段路", "这路", "那路", "小路",
                "大路", "岔路", "山路", "水路", "铁路", "线路", "思路", "走路", "上路", "出路",
                "去路", "来路", "半路", "个路", "条街", "逛街", "上街", "过街", "条巷"}
_BEFORE_ADDRESS = "到去在是成为往住送"


def _address_hits(text: str) -> list[Hit]:
    hits = []
    for m in _STREET_ADDRESS.finditer(text):
        name = m.group(1)
        if name[-2:] in _NOT_STREETS:
            continue
        # The match may begin with the command (导航到, 送到): the address starts after it.
        cut = max(name.rfind(c, 0, len(name) - 2) for c in _BEFORE_ADDRESS) + 1
        hits.append(Hit("address", m.start() + cut, m.end(), m.group(0)[cut:]))
    covered = [(h.start, h.end) for h in hits]
    for m in _UNIT_ADDRESS.finditer(text):
        parts = sum(1 for g in m.groups() if g)
        # One part (3号楼, 5栋) names a building; with a unit or a room it is someone's door.
        if parts < 2 or (m.group(3) and not m.group(2) and not re.search(r"[室房]$|\d{3,4}$",
                                                                      m.group(3))):
            continue
        if any(a <= m.start() < b for a, b in covered):
            continue
        hits.append(Hit("address", m.start(), m.end(), m.group(0)))
    return hits


# --- the public interface --------------------------------------------------------------------

def find(text: str, kinds=KINDS) -> list[Hit]:
    """All personal data of the given kinds in ``text``, in order, without overlaps."""
    if not text:
        return []
    hits = _number_hits(text) + _plate_hits(text) + _email_hits(text) + _address_hits(text)
    hits = [h for h in hits if h.kind in kinds]
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    out: list[Hit] = []
    for h in hits:  # e-mail local parts and addresses may contain digit runs: keep the outer one
        if out and h.start < out[-1].end:
            if h.end - h.start > out[-1].end - out[-1].start:
                out[-1] = h
            continue
        out.append(h)
    return out


_MASKABLE = re.compile(r"[0-9A-Za-z０-９零〇一二两三四五六七八九十百千幺Xx叉]")
_KEEP = {"phone": (3, 4), "landline": (3, 4), "id": (3, 4), "bankcard": (4, 4), "plate": (1, 2)}
_HOUSE_NUMBER = re.compile(rf"{_NUM}(?=[号弄栋幢座单楼层室房之-]|$)")


def mask(value: str, kind: str | None = None) -> str:
    """The value with its identifying middle starred, for logs and reports: ``138****5678``,
    ``310***********2030``, ``京A***45``, ``z*******@qq.com``, ``中关村大街**号``.

    Only digits, Latin letters and spoken digits are starred; separators and words stay, so a
    reader still sees what kind of thing was there.
    """
    if kind == "email" or (kind is None and "@" in value):
        user = re.match(r"[A-Za-z0-9._%+-]*", value).group(0)
        return user[:1] + "*" * (len(user) - 1) + value[len(user):]
    if kind == "address":  # the street may be named; the door numbers are what identify
        return _HOUSE_NUMBER.sub(lambda m: "*" * len(m.group(0)), value)
    positions = [m.start() for m in _MASKABLE.finditer(value)]
    head, tail = _KEEP.get(kind or "", (3, 4))
    if kind == "landline":  # keep the area code: 010, 021 or 0755
        digits = "".join(_digit(value[i]) or "" for i in positions)
        head = 3 if digits[1:2] in ("1", "2") else 4
    if len(positions) <= head + tail:
        head, tail = 0, min(tail, len(positions) // 3)
    star = set(positions[head:len(positions) - tail])
    return "".join("*" if i in star else c for i, c in enumerate(value))


def redact(text: str, hits: list[Hit]) -> str:
    """``text`` with every hit masked in place; the length stays, so offsets remain valid."""
    out, pos = [], 0
    for h in sorted(hits, key=lambda h: h.start):
        out.append(text[pos:h.start])
        out.append(mask(text[h.start:h.end], h.kind))
        pos = h.end
    out.append(text[pos:])
    return "".join(out)


def redact_text(text: str | None, kinds=KINDS) -> str | None:
    """Mask whatever personal data ``text`` holds (for display); None stays None."""
    if not text:
        return text
    return redact(text, find(text, kinds))
