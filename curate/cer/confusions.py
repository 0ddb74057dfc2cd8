"""Error analysis: which tokens are substituted, deleted and inserted, and how many substitutions
are homophones (same toneless pinyin for some reading of each character, via pypinyin)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from .units import is_cjk


@dataclass
class Confusions:
    substitutions: Counter = field(default_factory=Counter)  # (ref token, hyp token) -> count
    deletions: Counter = field(default_factory=Counter)      # ref token -> count
    insertions: Counter = field(default_factory=Counter)     # hyp token -> count

    def homophone_substitutions(self) -> int:
        return sum(c for (r, h), c in self.substitutions.items() if homophones(r, h))

    def homophone_share(self) -> float | None:
        total = sum(self.substitutions.values())
        return self.homophone_substitutions() / total if total else None


def collect(refs, hyps, ops_per_utt, include, decode=lambda ch: ch) -> Confusions:
    """Count every edit of the utterances whose ``include`` flag is set; ``decode`` turns token
    codes back into text (``Vocabulary.decode``)."""
    out = Confusions()
    subs, dels, ins = out.substitutions, out.deletions, out.insertions
    for ref, hyp, ops, keep in zip(refs, hyps, ops_per_utt, include):
        if not keep:
            continue
        for tag, i, j in ops:
            if tag == "replace":
                subs[(decode(ref[i]), decode(hyp[j]))] += 1
            elif tag == "delete":
                dels[decode(ref[i])] += 1
            else:
                ins[decode(hyp[j])] += 1
    return out


@lru_cache(maxsize=65536)
def readings(ch: str) -> frozenset[str]:
    """Toneless pinyin readings of one CJK character (all of them: 行 → xing, hang, heng)."""
    from pypinyin import Style, pinyin
    return frozenset(pinyin(ch, style=Style.NORMAL, heteronym=True)[0])


def homophones(a: str, b: str) -> bool:
    """Two different CJK characters sharing a toneless reading (在/再, 是/十, 他/她)."""
    if a == b or not (is_cjk(a) and is_cjk(b)):
        return False
    return not readings(a).isdisjoint(readings(b))
