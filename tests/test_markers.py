"""Unclear-span markers, shared by the qc stage and the CER scorer."""
from manifests.markers import find_markers, strip_markers


def test_markers_are_counted_with_positions():
    assert find_markers("我想去～那个地方") == [(3, "～")]
    assert find_markers("播放【～】的歌和~还有[UNK]<unk>***") == [
        (2, "【～】"), (8, "~"), (11, "[UNK]"), (16, "<unk>"), (21, "***")]
    assert find_markers("温度调到20~22度") == []  # a range, not an unclear span
    assert find_markers("好的##", markers=("##",)) == [(2, "##")]
    assert strip_markers("播放【～】的歌") == "播放的歌"


def test_the_cer_scorer_reads_the_same_markers():
    from curate.cer.fuzzy import WILDCARD, is_fuzzy, mark

    assert is_fuzzy("播放【～】的歌") and is_fuzzy("好的***") and is_fuzzy("打开", tags=("fuzzy",))
    assert not is_fuzzy("温度调到20~22度")  # a range is scored like any text
    assert mark("播放【～】的歌～", "strip") == "播放 的歌 "
    assert mark("我想去～那个地方", "wildcard") == f"我想去 {WILDCARD} 那个地方"
