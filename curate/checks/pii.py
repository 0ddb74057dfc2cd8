"""Personal data in Mandarin transcripts: phone, landline, resident ID, plate, bank card, e-mail and
street address detectors, and masking for logs and shared copies.

Numbers are found as runs of digits, written (``138 1234-5678``, full-width too) or spoken one by
one (幺三八零零…, with 一/幺 for 1, 两 for 2, 零/〇 for 0), the way a driver says them and an
annotator or ASR model writes them down: groups may be separated by spaces, dashes (杠, 横杠),
commas and fillers (幺五零 嗯 幺二三四), and a homophone an ASR model put for a spoken digit
(幺三八零零要三八…) may count as that digit when it stands next to a spoken digit.

A run is only personal data when its shape says so: eleven digits starting 13-19 (mobile), an
area code and a local number (landline), a region code and a birth date in eighteen characters
(ID), 16-19 digits with a valid Luhn digit (bank card). Check digits are recorded, not trusted:
annotators and ASR slip most on spoken digits, and an ID number with one wrong digit still
identifies its holder, so an ID-shaped run is an ID whatever its check character, and next to a
keyword (身份证, 证件号 / 卡号, 银行卡, 账号, 尾号 …) a run of ID or card length is one too.
Ordinary in-car numbers never take those shapes: spoken quantities use 十/百/千 (二十四度) and
break into short runs; temperatures, speeds, times, dates, volumes, metro lines, flight and train
numbers are a few digits long, and an order number (订单号) is not read as a card.
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
# What else a transcript holds between the groups of one spoken number: a dash said as a word,
# and the fillers of someone reading a number out (幺五零 嗯 幺二三四，那个，五六七八).
_GLUE = re.compile(rf"(?:[{re.escape(''.join(sorted(_JOINERS)))}]|横杠|杠|嗯|啊|呃|额|哦|噢|唔|那个|就是)+")
MAX_GLUE = 6
# What ASR models write for a spoken digit they misheard (幺 → 要/腰, 四 → 是, 八 → 吧), read as
# the digit only next to a spoken digit: alone they are ordinary words.
_HOMOPHONES = {**dict.fromkeys("要腰妖邀", "1"), **dict.fromkeys("儿而尔耳", "2"),
               **dict.fromkeys("山伞散", "3"), **dict.fromkeys("是事死似寺", "4"),
               **dict.fromkeys("无舞午", "5"), **dict.fromkeys("溜留流", "6"),
               **dict.fromkeys("期起骑妻", "7"), **dict.fromkeys("吧爸巴", "8"),
               **dict.fromkeys("酒久旧", "9"), **dict.fromkeys("林玲铃", "0")}
_X = set("Xx叉")  # the ID check character 10
MAX_DIGITS = 23    # the longest number looked for: 0086 and a 19-digit card
MIN_DIGITS = 11    # the shortest: a mobile or a landline (IDs and cards are longer)
# A text holds a number looked for only where MIN_DIGITS characters that may read as digits
# follow one another with at most MAX_GLUE others between each two. Most transcripts fail that
# at C speed and skip the digit-run reader, a Python loop.
_DIGIT_LIKE = f"0-9０-９{''.join(_SPOKEN)}{''.join(_HOMOPHONES)}"
_DIGIT_SPAN = re.compile(
    f"(?:[{_DIGIT_LIKE}][^{_DIGIT_LIKE}]{{0,{MAX_GLUE}}}){{{MIN_DIGITS - 1}}}[{_DIGIT_LIKE}]")


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
    verified: bool | None = None  # ID and card: whether the check digit holds (None: no check)

    def masked(self) -> str:
        return mask(self.value, self.kind)


# --- digit runs ------------------------------------------------------------------------------

@dataclass
class _Group:
    start: int
    end: int
    digits: str
    script: str  # "written" (138, １３８), "spoken" (幺三八) or "guess" (one ASR homophone)

    @property
    def spoken(self) -> bool:
        return self.script != "written"


def _is_spoken_digit(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i] in _SPOKEN


def _read(text: str, i: int) -> tuple[str, str] | None:
    """(digit, script) of ``text[i]``, or None when it is no digit. A homophone is a guess, its own
    group: a number may be read with it or without it, whichever has the shape (要三八…, 是一三八…)."""
    ch = text[i]
    d = _digit(ch)
    if d is not None:
        return d, "spoken" if ch in _SPOKEN else "written"
    if ch in _HOMOPHONES and (_is_spoken_digit(text, i - 1) or _is_spoken_digit(text, i + 1)):
        return _HOMOPHONES[ch], "guess"
    return None


def _groups(text: str) -> list[list[_Group]]:
    """Runs of digit groups. Groups split at joiners and fillers, where written and spoken digits
    meet, and round a guessed homophone; a run ends at anything else."""
    runs: list[list[_Group]] = []
    run: list[_Group] = []
    i, n = 0, len(text)
    while i < n:
        read = _read(text, i)
        if read is None:
            glue = _GLUE.match(text, i) if run else None
            if glue and glue.end() - i <= MAX_GLUE and glue.end() < n and \
                    _read(text, glue.end()) is not None:
                i = glue.end()
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
        d, script = read
        last = run[-1] if run else None
        if last and last.end == i and last.script == script != "guess" and \
                not last.digits.endswith("X"):
            last.digits += d
            last.end = i + 1
        else:
            run.append(_Group(i, i + 1, d, script))
        i += 1
    if run:
        runs.append(run)
    return runs


# Words that say what the number next to them is: within CONTEXT characters before it, or after.
_ID_WORDS = ("身份证", "证件号", "证件", "身份号", "身份证号", "公民身份")
_CARD_WORDS = ("卡号", "银行卡", "信用卡", "储蓄卡", "借记卡", "账号", "帐号", "账户", "帐户",
               "转账", "卡")
_TAIL_WORDS = ("尾号", "号码是")  # someone's number, an ID's or a card's: the shape decides
_ORDER_WORDS = ("订单", "单号", "运单", "快递", "流水号", "工单", "编号", "序列号")
_CONTEXT = 10


def _context(text: str, start: int, end: int) -> str | None:
    """"id", "card", "tail" or "order": what the nearest keyword around ``text[start:end]``
    names."""
    best: tuple[int, str] | None = None
    for label, words in (("id", _ID_WORDS), ("card", _CARD_WORDS), ("tail", _TAIL_WORDS),
                         ("order", _ORDER_WORDS)):
        for w in words:
            before = text.rfind(w, max(0, start - _CONTEXT - len(w)), start)
            if before >= 0 and (best is None or start - before - len(w) < best[0]):
                best = (start - before - len(w), label)
            after = text.find(w, end, end + _CONTEXT + len(w))
            if after >= 0 and (best is None or after - end + 1 < best[0]):
                best = (after - end + 1, label)  # a word before the number reads first
    return best and best[1]


def _classify(digits: str, context: str | None = None) -> tuple[str, str, bool | None] | None:
    """(kind, canonical digits, check digit verified) when a digit string has the shape of
    personal data; ``context`` is what a keyword next to it names (see ``_context``)."""
    n = len(digits)
    id_like = digits[:-1].isdigit() and digits[-1] in "0123456789X"
    if context == "id" and 15 <= n <= 19 and id_like:
        # Next to 身份证 an ID with a digit dropped, doubled or misheard is still someone's ID.
        return "id", digits, n == 18 and id_check_char(digits[:17]) == digits[17]
    verified_id = n == 18 and id_like and _id_shaped(digits) \
        and id_check_char(digits[:17]) == digits[17]
    # Next to a card word an ID-shaped run is a card, unless its ID check character holds and a
    # card's Luhn digit does not: then it is someone's ID said near 卡 (卡包, 会员卡 ...).
    if n == 18 and id_like and _id_shaped(digits) and (
            context != "card" or verified_id and not (digits.isdigit() and _luhn(digits))):
        return "id", digits, verified_id
    digits = digits.rstrip("X") if digits.count("X") == 1 and digits.endswith("X") else digits
    if "X" in digits:
        return None
    m = re.fullmatch(r"(?:0086|86)?(1[3-9]\d{9})", digits)
    if m:
        return "phone", m.group(1), None
    if re.fullmatch(r"0(?:10|2\d)[2-9]\d{7}|0[3-9]\d{2}[2-9]\d{6,7}", digits):
        return "landline", digits, None
    if 16 <= len(digits) <= 19:
        if context in ("card", "tail"):
            return "bankcard", digits, _luhn(digits)
        if context != "order" and digits[0] in "3456" and _luhn(digits):
            return "bankcard", digits, True
    return None


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits of a resident ID."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


# The provinces' two-digit region codes (GB/T 2260), 71 Taiwan, 81 Hong Kong, 82 Macau.
_PROVINCE_CODES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
                   "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
                   "61", "62", "63", "64", "65", "71", "81", "82"}


def _id_shaped(s: str) -> bool:
    """A region code, then a birth date: the shape of a resident ID, whatever its check digit."""
    if not (s[:17].isdigit() and s[:2] in _PROVINCE_CODES):
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
    if not _DIGIT_SPAN.search(text):
        return []
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
    if _guess_at_edge(groups) and _match_groups(text, _trim_guesses(groups)):
        return None  # the number reads without the homophone beside it (是一三八…): leave it out
    digits = "".join(g.digits for g in groups)
    start, end = groups[0].start, groups[-1].end
    context = _context(text, start, end)
    found = _classify(digits, context)
    # A spoken 一 or 两 at the edge may belong to the next word (幺三八…零零一下, 两个).
    if found is None and groups[-1].spoken and text[end - 1] == "一":
        digits, end = digits[:-1], end - 1
        found = _classify(digits, context)
    if found is None and groups[0].spoken and text[start] in "一两":
        digits, start, end = "".join(g.digits for g in groups)[1:], start + 1, groups[-1].end
        found = _classify(digits, context)
    if found is None:
        return None
    kind, value, verified = found
    if kind == "phone" and len(digits) > len(value):
        start = _skip_digits(text, start, len(digits) - len(value))  # the country code is no one's
    return Hit(kind, start, end, value, verified)


def _guess_at_edge(groups: list[_Group]) -> bool:
    return len(groups) > 1 and "guess" in (groups[0].script, groups[-1].script)


def _trim_guesses(groups: list[_Group]) -> list[_Group]:
    a = 1 if groups[0].script == "guess" else 0
    b = len(groups) - 1 if groups[-1].script == "guess" else len(groups)
    return groups[a:b]


def _skip_digits(text: str, pos: int, count: int) -> int:
    """The position after ``count`` more digits from ``pos``, and the joiners after them."""
    while count:
        if _digit(text[pos]) is not None:
            count -= 1
        pos += 1
    glue = _GLUE.match(text, pos)
    return glue.end() if glue else pos


# --- plates, e-mail, addresses ---------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Annotators and ASR models space plates out (京 A 1 2 3 4 5) or put a dot or dash after the letter.
_PLATE = re.compile(
    rf"([{PROVINCES}])\s?([A-HJ-NP-Z])((?:[·•・\s-]?[A-HJ-NP-Z0-9]){{4,6}}(?:\s?[学警挂港澳])?)"
    rf"(?![A-Z0-9])")


def _plate_view(text: str) -> str:
    """``text`` with spoken digits as ASCII and letters in upper case, for the plate pattern;
    the same length, so positions carry over. A spoken digit right after a written one starts the
    next word (京A12345一直), so it stays as it is."""
    out = []
    for i, c in enumerate(text):
        if c in _SPOKEN and i and text[i - 1].isdigit():
            out.append(c)
        else:
            out.append(_digit(c) or (c.upper() if c.isascii() else c))
    return "".join(out)


# What every plate starts with (the pattern reads a view with ASCII letters upper-cased).
_PLATE_START = re.compile(rf"[{PROVINCES}]\s?[A-Za-z]")


def _plate_hits(text: str) -> list[Hit]:
    if not _PLATE_START.search(text):
        return []
    hits = []
    view = _plate_view(text)
    for m in _PLATE.finditer(view):
        if m.start() > 0 and view[m.start() - 1].isascii() and view[m.start() - 1].isalnum():
            continue
        found = _plate_at(view, m)
        if found is not None:
            hits.append(found)
    return hits


def _plate_at(view: str, m: re.Match) -> Hit | None:
    """The plate ``m`` found, or the longest shorter one it starts with that ends before a
    space or a separator (京A12345 3号门: the tail may have run on into the next word), never one
    cut out of a longer run of letters and digits (京A123456789)."""
    end = m.end()
    while end - m.start() >= 7:
        if end == m.end() or not (view[end].isascii() and view[end].isalnum()):
            short = _PLATE.fullmatch(view, m.start(), end) if end < m.end() else m
            if short is not None:
                tail = re.sub(r"[·•・\s-]", "", short.group(3))
                if _plate_tail(tail):
                    return Hit("plate", short.start(), short.end(),
                               short.group(1) + short.group(2) + tail)
        end -= 1
    return None


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


# Spoken: @ as 艾特 / 圈a / 小老鼠 / at, . as 点 / dot, _ as 下划线 (wang下划线fang at qq 点 com).
_DOT = r"(?:\.|。|．|点|\bdot\b)"
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9](?:[A-Za-z0-9._%+-]|下划线)*)\s*"
    r"(?:@|＠|艾特|圈a|小老鼠|\bat\b)\s*"
    rf"([A-Za-z0-9][A-Za-z0-9-]*(?:\s*{_DOT}\s*[A-Za-z0-9-]+)*"
    rf"\s*{_DOT}\s*(?:com|cn|net|org|edu|gov|io|me|co))(?![A-Za-z])", re.IGNORECASE)


_EMAIL_AT = re.compile(r"[@＠]|艾特|圈a|小老鼠|at", re.IGNORECASE)  # what every e-mail holds


def _email_hits(text: str) -> list[Hit]:
    if not _EMAIL_AT.search(text):
        return []
    hits = []
    for m in _EMAIL.finditer(text):
        domain = re.sub(rf"\s*{_DOT}\s*", ".", m.group(2), flags=re.IGNORECASE)
        domain = re.sub(r"\s+", "", domain)
        user = m.group(1).replace("下划线", "_")
        hits.append(Hit("email", m.start(), m.end(), f"{user}@{domain}".lower()))
    return hits


_NUM = r"(?:[0-9０-９]{1,5}|[零〇一二两三四五六七八九十百千幺]{1,8})"
_STREET = r"(?:大街|大道|路|街|巷|胡同|弄)"
# Between the parts of an address as transcribed: spaces, commas and a filler (南京路 嗯 150号).
_SEP = r"(?:[\s,，]|嗯|啊|呃|那个){0,3}"
# A street name, then a house number: 中关村大街27号, 世纪大道1198号3栋, 长乐路两百号.
_STREET_ADDRESS = re.compile(
    rf"([\u4e00-\u9fff]{{2,12}}?{_STREET})({_SEP}{_NUM}\s?(?:[之-]{_NUM})?[号弄])"
    rf"((?:{_SEP}{_NUM}\s?(?:号楼|栋|幢|座|单元|楼|层|室|号))+(?:\s?[0-9]{{3,4}}(?![0-9]))?)?")
# A building, unit and room inside a compound: 3号楼2单元502室, 5栋1204, 7 栋 3 单元 401 室.
_UNIT_ADDRESS = re.compile(
    rf"({_NUM}\s?(?:号楼|栋|幢|座))(\s?{_NUM}\s?单元)?(\s?{_NUM}(?:\s?(?:室|号|房))?)?")
# Generic words ending in a street suffix that name no street (这条路3号 is a date, 公路 a road).
_ROOM = re.compile(r"[室房]$|[0-9零〇一二两三四五六七八九幺]{3,4}$")  # 502室, 1204, 五零二
_NOT_STREETS = {"公路", "马路", "道路", "环路", "一路", "条路", "段路", "这路", "那路", "小路",
                "大路", "岔路", "山路", "水路", "铁路", "线路", "思路", "走路", "上路", "出路",
                "去路", "来路", "半路", "个路", "条街", "逛街", "上街", "过街", "条巷"}
_BEFORE_ADDRESS = "到去在是成为往住送"


# What every address holds: a street suffix (_STREET) or a building's (_UNIT_ADDRESS).
_ADDRESS_WORD = re.compile(r"[路街巷弄栋幢座]|胡同|大道|号楼")


def _address_hits(text: str) -> list[Hit]:
    if not _ADDRESS_WORD.search(text):
        return []
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
        if parts < 2 or (m.group(3) and not m.group(2) and not _ROOM.search(m.group(3))):
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
