"""One text scored against another as ``curate cer`` scores them by default: the ``zh`` profile,
``mixed`` units and the same edit distance, with unclear-span markers stripped (``--fuzzy
strip``). The qc stage compares a label with its hyp and its second annotation through here, so
its "CER above cer_max" is the CER that ``curate cer`` prints for the pair."""
from __future__ import annotations

from manifests.markers import DEFAULT_MARKERS, strip_markers

from .align import edit_distance
from .normalize import PROFILES, normalize
from .units import Vocabulary, tokenize

PROFILE = PROFILES["zh"]
UNIT = "mixed"


def scored_forms(texts: list[str], markers=DEFAULT_MARKERS) -> list[str]:
    """The texts as they are scored, one character per unit (a shared vocabulary codes Latin
    words): two texts score CER 0 against each other exactly when their forms are equal."""
    return tokenize(normalize([strip_markers(t, markers) for t in texts], PROFILE), UNIT,
                    Vocabulary())


def cer(ref: str, hyp: str, markers=DEFAULT_MARKERS) -> tuple[float, int, int]:
    """(CER, edits, reference units) of ``hyp`` against ``ref``. An empty reference gives a rate
    of 1.0 when the hypothesis has anything, else 0.0."""
    r, h = scored_forms([ref, hyp], markers)
    edits = edit_distance(r, h)
    if not r:
        return (1.0 if h else 0.0), edits, 0
    return edits / len(r), edits, len(r)
