"""The personal-data detectors on a labelled set of in-car sentences, and masking."""
from collections import Counter
from pathlib import Path

import pytest

from plugins import pii

SET = Path(__file__).parent / "data" / "sensitive_set.tsv"


def labelled():
    rows = []
    for lineno, line in enumerate(SET.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        kinds, _, text = line.partition("\t")
        rows.append((lineno, set() if kinds == "-" else set(kinds.split(",")), text))
    return rows


def test_the_set_covers_every_kind_with_positives_and_negatives():
    rows = labelled()
    assert len(rows) >= 60
    positives = Counter(k for _, kinds, _ in rows for k in kinds)
    assert set(positives) == set(pii.KINDS) and min(positives.values()) >= 3
    negatives = [text for _, kinds, text in rows if not kinds]
    assert len(negatives) >= 30  # temperatures, speeds, times, dates, metro, flights, songs...


def test_precision_and_recall_per_kind(capsys):
    tp, fp, fn = Counter(), Counter(), Counter()
    mistakes = []
    for lineno, expected, text in labelled():
        found = {h.kind for h in pii.find(text)}
        for k in pii.KINDS:
            tp[k] += k in found and k in expected
            fp[k] += k in found and k not in expected
            fn[k] += k not in found and k in expected
        if found != expected:
            mistakes.append(f"line {lineno}: expected {sorted(expected)}, found {sorted(found)}: "
                            f"{pii.redact_text(text)}")
    with capsys.disabled():
        print("\nkind       precision  recall  (tp fp fn)")
        for k in pii.KINDS:
            p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 1.0
            r = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else 1.0
            print(f"{k:10s} {p:9.2f} {r:7.2f}  ({tp[k]} {fp[k]} {fn[k]})")
        for m in mistakes:
            print("  " + m)
    assert fn["phone"] == 0 and fn["id"] == 0, mistakes  # never miss a phone or an ID number
    for k in pii.KINDS:
        assert tp[k] / (tp[k] + fp[k]) >= 0.9 and tp[k] / (tp[k] + fn[k]) >= 0.9, (k, mistakes)


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


def test_checksums_decide_ids_and_cards():
    first17 = "31011519870412203"
    good = first17 + pii.id_check_char(first17)
    assert [h.kind for h in pii.find(f"身份证{good}")] == ["id"]
    for wrong in "0123456789X":
        if wrong != good[-1]:
            assert pii.find(f"单号{first17}{wrong}") == [], wrong
    assert [h.kind for h in pii.find("卡号4367830123456781")] == ["bankcard"]
    assert pii.find("卡号4367830123456782") == []


def test_spoken_and_written_forms_give_the_same_value():
    written = pii.find("电话13800138000")[0].value
    for spoken in ("电话幺三八零零幺三八零零零", "电话一三八〇〇一三八〇〇〇", "电话幺三八 零零幺三 八零零零",
                   "电话１３８００１３８０００", "电话+86 138 0013 8000"):
        assert [h.value for h in pii.find(spoken)] == [written], spoken


def test_kinds_can_be_chosen():
    text = "车牌京A12345电话13812345678"
    assert [h.kind for h in pii.find(text, kinds=("plate",))] == ["plate"]
    assert pii.find("") == [] and pii.redact_text(None) is None
