"""The qc vocabulary: the tags the qc stage sets and those `curate qc` sets across a run, and
how a record's measurements are known to be its own."""
from __future__ import annotations

import hashlib
import json

# Tags the qc stage sets, in report order.
TAGS = ("empty_label", "fuzzy", "bad_chars", "mixed_punct", "mixed_numerals", "rate_too_fast",
        "rate_too_slow", "label_hyp_mismatch", "annotator_mismatch", "clipping", "low_level",
        "low_snr", "dc_offset", "odd_sample_rate", "odd_channels")
# Tags `curate qc` sets across the whole run.
DATASET_TAGS = ("dup_audio", "dup_text_duration")


def measured_on(rec) -> dict:
    """What a record's qc measurements were taken on: its id, duration and lineage (a digest).

    A record derived from another — a chunk, a merged window, a noisy copy, a trimmed clip —
    differs in at least one of them, so measurements it inherited (``extra.qc``: audio hash, SNR,
    rate …) are known to be its source's, not its own, and are taken again on its own audio.
    """
    digest = hashlib.blake2b(json.dumps(rec.lineage, sort_keys=True, ensure_ascii=False,
                                        default=str).encode(), digest_size=8).hexdigest()
    return {"id": rec.id, "duration": round(rec.duration, 3), "lineage": digest}


def measured(rec) -> bool:
    """Whether the record's qc measurements (``extra.qc``) were taken on this record's audio."""
    qc = rec.extra.get("qc")
    return isinstance(qc, dict) and qc.get("on") == measured_on(rec)


def inherited(rec) -> list[str]:
    """The qc tags a record carries that were not measured on its own audio: on a derived record,
    every qc tag (they came with its sources: a merged window holds each part's tags); on a
    measured one, those its measurements list as ``inherited``."""
    if measured(rec):
        return [t for t in rec.extra["qc"].get("inherited", ()) if t in TAGS]
    return [t for t in TAGS if t in rec.tags]
