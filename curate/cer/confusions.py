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
    codes back into text (``Vocabulary.decode``). Codes stand one-to-one for tokens, so the
    codes are counted and only the distinct ones decoded."""
    subs, dels, ins = Counter(), Counter(), Counter()
    for ref, hyp, ops, keep in zip(refs, hyps, ops_per_utt, include):
        if not keep:
            continue
        for tag, i, j in ops:
            if tag == "replace":
                subs[ref[i], hyp[j]] += 1
            elif tag == "delete":
                dels[ref[i]] += 1
            else:
                ins[hyp[j]] += 1
    return Confusions(Counter({(decode(r), decode(h)): c for (r, h), c in subs.items()}),
                      Counter({decode(r): c for r, c in dels.items()}),
                      Counter({decode(h): c for h, c in ins.items()}))


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
