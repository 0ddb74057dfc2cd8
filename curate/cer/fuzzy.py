"""Unclear spans in references: the markers of ``manifests.markers`` (【～】, ～, ~, [unk], <unk>,
***), or a ``fuzzy`` tag on the record.

``--fuzzy`` decides what happens to such an utterance, and the report always says how many:

- ``exclude`` (default): not scored at all, for any system.
- ``strip``: the markers are removed and the rest is scored; whatever a system heard in the
  unclear span counts as insertions.
- ``wildcard``: each marker matches any hypothesis span, including an empty one, at no cost.
"""
from __future__ import annotations

from manifests.markers import find_markers, strip_markers

MODES = ("exclude", "strip", "wildcard")
# Stands for a marker through normalisation and tokenisation: a private-use character that no
# normalisation step touches and that tokenises on its own.
WILDCARD = "\U0010fffd"


def is_fuzzy_tag(tag) -> bool:
    """``fuzzy`` or ``fuzzy:...`` (a tag that is not a string is tested as its ``str``)."""
    return tag == "fuzzy" or str(tag).startswith("fuzzy:")


def is_fuzzy(text: str, tags=()) -> bool:
    return any(is_fuzzy_tag(t) for t in tags) or bool(find_markers(text))


def mark(text: str, mode: str) -> str:
    """The reference text to score under ``mode`` (``exclude`` texts are never scored)."""
    if mode not in ("strip", "wildcard"):
        raise ValueError(f"fuzzy mode {mode!r} has no scored text; expected strip or wildcard")
    return strip_markers(text, replacement=" " if mode == "strip" else f" {WILDCARD} ")
