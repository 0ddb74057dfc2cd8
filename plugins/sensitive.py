"""sensitive: find personal data in transcripts and metadata and keep those recordings out of
training.

A record whose label, hyp, second annotation (``text_b``), segment texts or hyps, id, speaker or
batch hold a phone number, ID number, plate, bank card, e-mail address or street address — or any
custom field named in ``fields`` — is tagged ``sensitive:<kind>`` and moved to the ``eval_only``
split: the run writes it to ``eval_only.jsonl``, never to ``manifest.jsonl``, and training refuses
it. Where the data sits is stored masked (``138****5678``) in ``extra["sensitive"]``, with whether
an ID's or card's check digit verified, so logs and reports never show the value;
``redact=true`` also stores masked copies of the texts (``text_redacted``, ``hyp_redacted``, …)
for sharing.

Order-proof: the stage is a text guard (``Stage.text_guard``), so the pipeline runs it before each
stage that rewrites texts and after the last one, wherever the user put it (see
``curate.engine.discovery.guard_texts``): a number that merge30 completes by joining two clean
utterances is found in the window, and a number chunk30 would cut in two is found in the whole
recording first. A record that already carries a ``sensitive:`` tag (a window cut from or packed
with a tagged record, a record from an earlier run) is routed to eval_only too.
"""
from __future__ import annotations

import json
from typing import Iterator

from curate.checks import pii
from curate.stage import Context, Item, Param, ParamError, Stage
from manifests import Record

TAG = "sensitive"
# Always read: the texts, and the metadata that reports and tables show next to them.
TEXT_FIELDS = ("text", "hyp", "text_b")
META_FIELDS = ("id", "speaker", "batch")


class Sensitive(Stage):
    name = "sensitive"
    summary = ("tag personal data (phone, ID, plate, bank card, e-mail, address) in texts, id, "
               "speaker and batch as sensitive:<kind> and route the record to eval_only")
    params = {
        "kinds": Param("list", pii.KINDS, "kinds of personal data to look for"),
        "fields": Param("list", (), "custom fields to read as well (text, hyp, text_b, segment "
                                    "texts, id, speaker and batch are always read)"),
        "redact": Param("bool", False, "also store masked copies of the texts (text_redacted, "
                                       "hyp_redacted, …) for sharing"),
    }
    needs_audio = False  # text only: the clip is never decoded for this stage
    text_guard = True

    def validate(self) -> None:
        unknown = [k for k in self.kinds if k not in pii.KINDS]
        if unknown:
            raise ParamError(f"sensitive.kinds: unknown kind(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(pii.KINDS)}")

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        for item in items:
            self.tag(item.record)
            yield item

    def tag(self, rec: Record) -> None:
        """Find, tag and route one record; the masked findings go to ``extra["sensitive"]``.

        A later scan (after a rewrite) replaces the findings when it finds any; otherwise the
        earlier ones stay, as does every tag: they tell where a window's parent held the data.
        """
        findings: list[dict] = []
        for name, text in self._texts(rec):
            hits = pii.find(text, self.kinds)
            if self.redact and f"{name}_redacted" in rec.extra and not hits:
                # a copy made before a rewrite (a window's parent's text): it must say what the
                # text says now
                rec.extra[f"{name}_redacted"] = text
            if not hits:
                continue
            for h in hits:
                f = {"field": name, "kind": h.kind, "start": h.start, "end": h.end,
                     "masked": h.masked()}
                if h.verified is not None:
                    f["verified"] = h.verified
                findings.append(f)
            if self.redact and name not in META_FIELDS and not name.startswith("segments["):
                rec.extra[f"{name}_redacted"] = pii.redact(text, hits)
        if self.redact:   # a redacted copy of a field the rewrite emptied is gone with it
            for key in [k for k in rec.extra if k.endswith("_redacted")]:
                if not rec.get(key[:-len("_redacted")]):
                    del rec.extra[key]
        for f in findings:
            rec.add_tag(f"{TAG}:{f['kind']}")
        if findings:
            rec.extra["sensitive"] = findings
        if rec.has_tag(TAG):
            rec.split = "eval_only"

    def _texts(self, rec: Record) -> Iterator[tuple[str, str]]:
        """(field, text) for every field read; a segment is read on its own, as numbers never
        run on across a sentence boundary."""
        custom = [n for n in self.fields if n not in TEXT_FIELDS + META_FIELDS]
        for name in TEXT_FIELDS + META_FIELDS + tuple(custom):
            value = rec.get(name)
            if value is not None and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)  # a custom list or table
            if value:
                yield name, value
        for i, seg in enumerate(rec.segments or []):
            for key in ("text", "hyp"):
                if isinstance(seg.get(key), str) and seg[key]:
                    yield f"segments[{i}].{key}", seg[key]
