"""The transcript joiner shared by merge30 and chunk30."""
import pytest

from manifests.cjk import no_space_beside
from plugins.joiner import join_texts


@pytest.mark.parametrize("texts, joined", [
    (["打开空调", "调到二十度"], "打开空调调到二十度"),           # no space inside Mandarin
    (["play", "next song"], "play next song"),                   # one space between Latin words
    (["导航到", "Starbucks"], "导航到Starbucks"),                  # nothing next to a CJK character
    (["call", "张三"], "call张三"),
    (["温度调到", "26", "度"], "温度调到26度"),
    (["1 3 8", "0 0"], "1 3 8 0 0"),
    (["给～打个电话", "【～】好的"], "给～打个电话【～】好的"),     # unclear-span marks are CJK
    (["你好。", "再见"], "你好。再见"),
    (["  前后有空格 ", "", "  "], "前后有空格"),                 # stripped; empty pieces skipped
    ([], ""),
])
def test_auto_joiner(texts, joined):
    assert join_texts(texts) == joined


def test_a_configured_joiner_is_used_as_is():
    assert join_texts(["打开空调", "关窗"], "。") == "打开空调。关窗"
    assert join_texts(["打开空调", "关窗"], " ") == "打开空调 关窗"
    assert join_texts(["打开空调", "", "关窗"], "，") == "打开空调，关窗"


def test_cjk_detection():
    assert all(no_space_beside(c) for c in "中文。，～【】ひカ한")
    assert not any(no_space_beside(c) for c in "aZ09 .,-é")
