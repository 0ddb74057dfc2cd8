"""What ``curate qc`` reports: per-tag counts, shares and hours, per-batch and per-speaker
breakdowns, the worst examples per tag, duplicates across the run, and plot data.

Every text that leaves this module for a report is masked (``138****5678``): reports are shared
with annotators, personal data is not.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from manifests import ManifestWriter, Problems, Record, read_manifest
from manifests.rundir import KINDS, file_name

from ..cer.pair import scored_forms
from ..checks import pii
from ..checks.tags import DATASET_TAGS, TAGS, measured
from ..engine.summary import LONG_WITHOUT_TIMESTAMPS

# What the records of each run-directory file are called in reports.
WHERE = {"manifest": "kept", "eval_only": "eval_only", "rejected": "rejected"}
RUN_FILES = tuple((file_name(kind), WHERE[kind]) for kind in KINDS)
QC_TAGS = TAGS + DATASET_TAGS
SENSITIVE = "sensitive"

# How the worst examples of a tag are ranked: (measurement in extra.qc, worst first is highest).
RANK = {
    "fuzzy": ("markers.count", True), "rate_too_fast": ("rate", True),
    "rate_too_slow": ("rate", False), "label_hyp_mismatch": ("cer_hyp", True),
    "annotator_mismatch": ("cer_text_b", True), "clipping": ("clip_ratio", True),
    "low_level": ("level_dbfs", False), "low_snr": ("snr_db", False), "dc_offset": ("dc", True),
    "odd_sample_rate": ("sample_rate", False), "odd_channels": ("channels", True),
}

# The measurement that explains a tag, shown next to a flagged record.
SHOWN = {"rate_too_fast": "rate", "rate_too_slow": "rate", "label_hyp_mismatch": "cer_hyp",
         "annotator_mismatch": "cer_text_b", "clipping": "clip_ratio", "low_level": "level_dbfs",
         "low_snr": "snr_db", "dc_offset": "dc", "odd_sample_rate": "sample_rate",
         "odd_channels": "channels", "dup_audio": "dup_of", "dup_text_duration": "dup_of",
         "mixed_numerals": "mixed_numerals"}


@dataclass
class Entry:
    record: Record
    where: str  # kept | eval_only | rejected

    @property
    def qc(self) -> dict:
        """The record's own measurements ({} when it has none, or only its source's)."""
        return self.record.extra["qc"] if measured(self.record) else {}

    @property
    def inherited(self) -> list[str]:
        """qc tags that came with the record's sources, not measured on its own audio."""
        return [t for t in self.qc.get("inherited", ()) if t in self.record.tags]

    @property
    def qc_tags(self) -> list[str]:
        return [t for t in self.record.tags if t in QC_TAGS]

    @property
    def sensitive(self) -> list[str]:
        return [t for t in self.record.tags if t.startswith(SENSITIVE + ":")]


def load_run(run_dir: Path, problems: Problems) -> list[Entry]:
    """The records of a run directory, each with where the run put it."""
    entries = []
    for name, where in RUN_FILES:
        path = run_dir / name
        if path.is_file():
            entries += [Entry(r, where) for r in read_manifest(path, problems)]
    return entries


def measurement(qc: dict, key: str):
    """``"markers.count"`` → ``qc["markers"]["count"]``; None when absent."""
    value = qc
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def mark_duplicates(entries: list[Entry]) -> int:
    """Tag later copies of the same audio (``dup_audio``) or the same text as ``curate cer``
    scores it and the same duration (``dup_text_duration``), naming the first in
    ``extra.qc.dup_of``. Rejected records are left out: they are not part of the data. Returns how
    many records were tagged."""
    first_audio: dict[str, str] = {}
    first_text: dict[tuple, str] = {}
    tagged = 0
    forms = scored_forms([e.record.text for e in entries])
    for e, text in zip(entries, forms):
        rec = e.record
        rec.tags = [t for t in rec.tags if t not in DATASET_TAGS]
        if e.where == "rejected":
            continue
        if not measured(rec):
            continue  # audio unreadable: nothing to compare
        qc = rec.extra["qc"]
        qc.pop("dup_of", None)
        digest = qc.get("audio_hash")
        if digest:
            if digest in first_audio:
                rec.add_tag("dup_audio")
                qc["dup_of"] = first_audio[digest]
            else:
                first_audio[digest] = rec.id
        if text:
            key = (text, round(rec.duration, 2))
            if key in first_text:
                rec.add_tag("dup_text_duration")
                qc.setdefault("dup_of", first_text[key])
            else:
                first_text[key] = rec.id
        tagged += rec.has_tag("dup_audio") or rec.has_tag("dup_text_duration")
    return tagged


def masked(text: str | None) -> str | None:
    """``text`` with the personal data the sensitive stage's detector finds masked: every id,
    speaker, batch and text a report shows goes through here."""
    return pii.redact_text(text)


def flagged(entries: list[Entry]) -> list[Entry]:
    """Records with a label or audio problem, in run order."""
    return [e for e in entries if e.qc_tags]


def summarize(entries: list[Entry], worst: int = 5) -> dict:
    """The report as plain data (JSON-ready): totals, per tag, per batch, per speaker, worst
    examples, and what the plots need."""
    data = [e for e in entries if e.where != "rejected"]
    total = len(data)
    hours = sum(e.record.duration for e in data) / 3600
    tag_rows = []
    present = [t for t in QC_TAGS if any(t in e.record.tags for e in entries)]
    present += sorted({t for e in entries for t in e.sensitive})
    for tag in present:
        having = [e for e in data if tag in e.record.tags]
        rejected = sum(1 for e in entries if e.where == "rejected" and tag in e.record.tags)
        tag_rows.append({"tag": tag, "records": len(having),
                         "share": len(having) / total if total else 0.0,
                         "hours": sum(e.record.duration for e in having) / 3600,
                         "rejected": rejected})
    return {
        "records": total,
        "hours": hours,
        "where": dict(Counter(e.where for e in entries)),
        "flagged": sum(1 for e in data if e.qc_tags),
        "sensitive": sum(1 for e in data if e.sensitive),
        "leaks": [masked(e.record.id) for e in data if e.sensitive and e.where == "kept"],
        "unchecked": sum(1 for e in data if not measured(e.record)),
        "tags": tag_rows,
        "batches": _breakdown(data, "batch"),
        "speakers": _breakdown(data, "speaker"),
        "worst": {tag: _worst(data, tag, worst) for tag in present if tag in QC_TAGS},
        "long_without_timestamps": [masked(e.record.id) for e in entries
                                    if e.where == "rejected" and e.record.extra.get("reason")
                                    == LONG_WITHOUT_TIMESTAMPS],
        "rejected_reasons": dict(Counter(str(e.record.extra.get("reason", "?"))
                                         for e in entries if e.where == "rejected")
                                 .most_common()),
        "durations": [round(e.record.duration, 3) for e in data],
        "rates": _rate_points(data),
        "band": _band(data),
    }


def _breakdown(data: list[Entry], field: str) -> list[dict]:
    groups: dict[str, list[Entry]] = defaultdict(list)
    for e in data:
        value = getattr(e.record, field)
        if value is not None:
            groups[value].append(e)
    rows = []
    for value, group in groups.items():
        counts = Counter(t for e in group for t in e.qc_tags)
        flagged_n = sum(1 for e in group if e.qc_tags)
        rows.append({"name": masked(value), "records": len(group),
                     "hours": sum(e.record.duration for e in group) / 3600,
                     "flagged": flagged_n, "share": flagged_n / len(group),
                     "tags": dict(counts.most_common())})
    rows.sort(key=lambda r: (-r["share"], str(r["name"])))
    return rows


def example(e: Entry) -> dict:
    """A record as reports show it: masked texts and the key measurements."""
    r, qc = e.record, e.qc
    own = [t for t in e.qc_tags if t not in e.inherited]
    # Every string masked: ``mixed_numerals`` holds the label's raw number runs, ``dup_of`` an id.
    values = _masked_all({k: qc[k] for k in ["rate"] + [SHOWN[t] for t in own if t in SHOWN]
                          if k in qc})
    text_b = r.extra.get("text_b")
    return {"id": masked(r.id), "where": e.where, "duration": round(r.duration, 3),
            "batch": masked(r.batch), "speaker": masked(r.speaker),
            "tags": e.qc_tags + e.sensitive, "inherited": e.inherited, "text": masked(r.text),
            "hyp": masked(r.hyp), "text_b": masked(text_b) if isinstance(text_b, str) else None,
            "values": values}


def _worst(data: list[Entry], tag: str, n: int) -> list[dict]:
    """The first ``n`` records with ``tag``: those measured by RANK worst first, then the rest in
    run order, each with its measurement as ``value``."""
    key, high_first = RANK.get(tag, (None, True))
    measured: list[tuple[Entry, object]] = []
    rest: list[tuple[Entry, object]] = []
    for e in data:
        if tag in e.record.tags:
            # An inherited tag was measured on a source: this record's value does not explain it.
            value = measurement(e.qc, key) if key and tag not in e.inherited else None
            (measured if isinstance(value, (int, float)) else rest).append((e, value))
    measured.sort(key=(lambda p: abs(p[1])) if tag == "dc_offset" else (lambda p: p[1]),
                  reverse=high_first)
    out = []
    for e, value in (measured + rest)[:n]:
        ex = example(e)
        ex["value"] = value
        out.append(ex)
    return out


def _rate_points(data: list[Entry]) -> list[dict]:
    points = []
    for e in data:
        rate = e.qc.get("rate")
        if isinstance(rate, (int, float)):
            points.append({"id": masked(e.record.id), "duration": round(e.record.duration, 3),
                           "rate": rate, "flag": next((t for t in e.record.tags if t in
                                                       ("rate_too_fast", "rate_too_slow")), None)})
    return points


def _band(data: list[Entry]) -> dict | None:
    """The median rate, and each bound of the speaking-rate band that all records shared (the
    upper bound varies per record when it was scaled by the record's share of silence)."""
    bands = [e.qc["rate_band"] for e in data if isinstance(e.qc.get("rate_band"), list)]
    rates = [e.qc["rate"] for e in data if isinstance(e.qc.get("rate"), (int, float))]
    if not rates:
        return None
    out = {"median": median(rates)}
    for i, key in enumerate(("low", "high")):
        values = {b[i] for b in bands}
        if len(values) == 1:
            out[key] = values.pop()
    return out


def write_flagged(path: Path, entries: list[Entry]) -> int:
    """Flagged records as a manifest, so they can be sent back to annotation or loaded like any
    manifest. Like every report, it shows personal data masked: ids (the record's, its parts',
    those in its lineage and ``dup_of``), speaker, batch, texts, hyps, ``text_b``, segment texts
    and any other text field; the raw values are in the run's ``eval_only.jsonl`` only. A record
    holding personal data is a masked copy (``masked: true``) whose audio path is masked too (the
    run names written audio after the id): its audio is not sent out, as report.html does not
    embed it."""
    with ManifestWriter(path) as w:
        for e in flagged(entries):
            r = e.record
            # Every string anywhere in extra masked (qc's mixed_numerals and dup_of, ids of parts).
            extra = {k: _masked_all(v) for k, v in r.extra.items() if not k.endswith("_redacted")}
            if e.sensitive:
                extra["masked"] = True
            extra["where"] = e.where
            w.write(Record(id=masked(r.id), audio=masked(r.audio) if e.sensitive else r.audio,
                           duration=r.duration, offset=r.offset,
                           text=masked(r.text) or "", hyp=masked(r.hyp), speaker=masked(r.speaker),
                           batch=masked(r.batch), segments=_masked_all(r.segments),
                           speech=r.speech, sample_rate=r.sample_rate, channels=r.channels,
                           tags=list(r.tags), split=r.split, lineage=_masked_all(r.lineage),
                           extra=extra))
    return w.count


def _masked_all(value):
    """``value`` with every string nested anywhere inside it masked."""
    if isinstance(value, str):
        return masked(value)
    if isinstance(value, list):
        return [_masked_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked_all(v) for k, v in value.items()}
    return value

