"""The personal-data detectors on a labelled set of in-car sentences, and masking."""
import re
from collections import Counter
from pathlib import Path

import pytest

from curate.checks import pii
from plugins.joiner import join_texts

SET = Path(__file__).parent / "data" / "sensitive_set.tsv"


def labelled():
    """(line, expected kinds, text); a line of several utterances is read as merge30 joins them."""
    rows = []
    for lineno, line in enumerate(SET.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        kinds, *utterances = line.split("\t")
        rows.append((lineno, set() if kinds == "-" else set(kinds.split(",")),
                     join_texts(utterances)))
    return rows


def test_the_set_covers_every_kind_with_positives_and_negatives():
    rows = labelled()
    assert len(rows) >= 300
    positives = Counter(k for _, kinds, _ in rows for k in kinds)
    assert set(positives) == set(pii.KINDS) and min(positives.values()) >= 10
    negatives = [text for _, kinds, text in rows if not kinds]
    # Half hold personal data; the rest are temperatures, speeds, times, dates, metro lines,
    # flights, songs, order numbers, plate-like and address-like phrases.
    assert len(negatives) >= 150 and len(rows) - len(negatives) >= 150
    split = [line for line in SET.read_text(encoding="utf-8").splitlines()
             if not line.startswith("#") and line.count("\t") > 1]
    assert len(split) >= 5  # numbers said over two utterances


def score(rows):
    """True positives, false positives and false negatives per kind over ``labelled()`` rows, and
    a line per sentence whose kinds were not all found (values masked)."""
    tp, fp, fn = Counter(), Counter(), Counter()
    mistakes = []
    for lineno, expected, text in rows:
        found = {h.kind for h in pii.find(text)}
        for k in pii.KINDS:
            tp[k] += k in found and k in expected
            fp[k] += k in found and k not in expected
            fn[k] += k not in found and k in expected
        if found != expected:
            mistakes.append(f"line {lineno}: expected {sorted(expected)}, found {sorted(found)}: "
                            f"{pii.redact_text(text)}")
    return tp, fp, fn, mistakes


def table(tp, fp, fn) -> list[str]:
    """Precision and recall per kind, as lines of a table."""
    lines = ["kind       precision  recall  (tp fp fn)"]
    for k in pii.KINDS:
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 1.0
        r = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else 1.0
        lines.append(f"{k:10s} {p:9.2f} {r:7.2f}  ({tp[k]} {fp[k]} {fn[k]})")
    return lines


def test_precision_and_recall_per_kind(capsys):
    tp, fp, fn, mistakes = score(labelled())
    with capsys.disabled():
        print("\n" + "\n".join(table(tp, fp, fn) + ["  " + m for m in mistakes]))
    for k in pii.KINDS:  # the goal: nothing missed, and at most 3 % false alarms per kind
        assert fn[k] == 0 and tp[k] / (tp[k] + fp[k]) >= 0.97, (k, mistakes)


@pytest.mark.parametrize("value, kind, masked", [
    ("13812345678", "phone", "138****5678"),
    ("138-1234-5678", "phone", "138-****-5678"),
    ("幺三八零零幺三八零零零", "phone", "幺三八****八零零零"),
    ("310115198704122030", "id", "310***********2030"),
    ("0755-86001234", "landline", "0755-****1234"),
    ("京A12345", "plate", "京A***45"),
    ("6222021234567890128", "bankcard", "6222***********0128"),
    ("zhangsan@163.com", "email", "z*******@163.com"),
    ("中关村大街27号", "address", "中关村大街**号"),
])
def test_mask(value, kind, masked):
    assert pii.mask(value, kind) == masked


def test_redacted_text_keeps_its_length_and_hides_every_value():
    text = "给13812345678打电话，身份证310115198704122030，车牌沪AD12345"
    hits = pii.find(text)
    assert [h.kind for h in hits] == ["phone", "id", "plate"]
    assert [text[h.start:h.end] for h in hits] == ["13812345678", "310115198704122030",
                                                     "沪AD12345"]
    red = pii.redact(text, hits)
    assert len(red) == len(text)
    assert red == "给138****5678打电话，身份证310***********2030，车牌沪A****45"


def test_check_digits_are_recorded_not_trusted():
    first17 = "31011519870412203"
    good = first17 + pii.id_check_char(first17)
    assert [(h.kind, h.verified) for h in pii.find(f"身份证{good}")] == [("id", True)]
    for wrong in "0123456789X":  # an ID-shaped run is an ID, keyword or not
        if wrong != good[-1]:
            assert [(h.kind, h.verified) for h in pii.find(f"单号{first17}{wrong}")] == [
                ("id", False)], wrong
    # The cases: one wrong digit each.
    assert [(h.kind, h.verified) for h in pii.find("身份证号110105199003072316")] == [
        ("id", False)]
    assert [(h.kind, h.verified) for h in pii.find("卡号6222021234567890123")] == [
        ("bankcard", False)]
    # Next to 身份证 an ID with a digit dropped is still an ID; a card needs its keyword when
    # Luhn fails, and an order number is no card.
    assert [h.kind for h in pii.find("身份证号11010519900307231")] == ["id"]
    assert [(h.kind, h.verified) for h in pii.find("卡号4367830123456781")] == [
        ("bankcard", True)]
    assert pii.find("号码4367830123456782") == []
    assert [h.verified for h in pii.find("信用卡4367830123456782")] == [False]
    assert pii.find("订单号4367830123456781") == []
    # An ID said near 卡 is an ID when its check character holds and no card's Luhn digit does.
    first17 = "11010519491231003"
    verified = first17 + pii.id_check_char(first17)
    assert [(h.kind, h.verified) for h in pii.find(f"身份证在卡包里，号码{verified}")] == [
        ("id", True)]
    assert [(h.kind, h.verified) for h in pii.find(f"我的卡是{verified}")] == [("id", True)]
    # A region code that no province has is not an ID, whatever the date after it.
    assert pii.find("编号201011198704122030") == []


@pytest.mark.parametrize("text, value", [
    ("幺五零 嗯 幺二三四 五六七八", "15012345678"),             # a filler inside the number
    ("幺五一杠二二三三杠四四五五", "15122334455"),              # 杠 said for a dash
    ("一三八 横杠 零零一三 横杠 八零零零", "13800138000"),
    ("电话是一五二，呃，六六七七，八八九九", "15266778899"),
    ("就打那个一五九，就是，零零零零，一二三四", "15900001234"),
    ("呼叫 1 3 8 1 2 3 4 5 6 7 8", "13812345678"),
    ("我的电话是 131 幺二三四 5678", "13112345678"),            # mixed scripts
    ("帮我打给幺五八要二三四五六七八", "15812345678"),          # ASR: 要 for 幺
    ("给妖三八零零幺三八零零零打电话", "13800138000"),          # ... at the start too
    ("拨打幺五二 溜六七七 八八九九", "15266778899"),
])
def test_spoken_forms_of_a_phone_number(text, value):
    assert [(h.kind, h.value) for h in pii.find(text)] == [("phone", value)]


def test_a_homophone_is_read_as_a_digit_only_where_the_number_needs_it():
    text = "号码是一三八零零一三八零零零"  # 是 next to 一 could be 四: the number reads without it
    (hit,) = pii.find(text)
    assert text[hit.start:hit.end] == "一三八零零一三八零零零" and hit.value == "13800138000"
    text = "拨打幺三八零零幺三八零零零一下"  # the trailing 一 belongs to 一下, not to the number
    (hit,) = pii.find(text)
    assert text[hit.start:hit.end] == "幺三八零零幺三八零零零"


@pytest.mark.parametrize("text, value", [
    ("京 A 1 2 3 4 5", "京A12345"),
    ("车牌号是沪 A D 1 2 3 4 5", "沪AD12345"),
    ("粤b 12345的车挪一下", "粤B12345"),
    ("后面那辆京AF12345一直跟着我", "京AF12345"),
])
def test_spaced_and_lower_case_plates(text, value):
    assert [(h.kind, h.value) for h in pii.find(text)] == [("plate", value)]


def test_spoken_and_written_forms_give_the_same_value():
    written = pii.find("电话13800138000")[0].value
    for spoken in ("电话幺三八零零幺三八零零零", "电话一三八〇〇一三八〇〇〇", "电话幺三八 零零幺三 八零零零",
                   "电话１３８００１３８０００", "电话+86 138 0013 8000"):
        assert [h.value for h in pii.find(spoken)] == [written], spoken


def test_kinds_can_be_chosen():
    text = "车牌京A12345电话13812345678"
    assert [h.kind for h in pii.find(text, kinds=("plate",))] == ["plate"]
    assert pii.find("") == [] and pii.redact_text(None) is None


def test_the_quick_rejections_never_skip_a_text_the_detectors_would_read(monkeypatch):
    """Each detector first asks a regex whether its text could hold its kind at all (enough
    digit-like characters close together, a province and a letter, an @, a street word): with
    those checks made to pass everything, every finding stays the same."""
    texts = [text for _, _, text in labelled()]
    # numbers at the edges of what the quick checks let through: 11 digits, MAX_GLUE fillers
    # between groups, homophones, full-width digits, a lower-case plate, a spaced e-mail
    texts += ["幺三八 那个那个嗯 一二三四 嗯嗯嗯 五六七八", "要三八一二三四五六七八", "１３８１２３４５６７８",
              "粤b 12345", "wang 艾特 qq 点 com", "0755嗯嗯嗯嗯嗯嗯12345678", "送到长乐路两百号三单元"]
    expected = [pii.find(t) for t in texts]
    assert sum(map(len, expected)) >= 200
    everything = re.compile("")
    for name in ("_DIGIT_SPAN", "_PLATE_START", "_EMAIL_AT", "_ADDRESS_WORD"):
        monkeypatch.setattr(pii, name, everything)
    assert [pii.find(t) for t in texts] == expected
