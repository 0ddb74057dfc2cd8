"""sensitive: find personal data in transcripts and keep those recordings out of training.

A record whose label, hyp or segment texts hold a phone number, ID number, plate, bank card,
e-mail address or street address is tagged ``sensitive:<kind>`` and moved to the ``eval_only``
split: the run writes it to ``eval_only.jsonl``, never to ``manifest.jsonl``, and training refuses
it. Where the data sits is stored masked (``138****5678``) in ``extra["sensitive"]``, so logs and
reports never show the value; ``redact=true`` also stores masked copies of the texts
(``text_redacted``, ``hyp_redacted``) for sharing.

Order-proof: a record that already carries a ``sensitive:`` tag (a merge30 window packed from a
tagged part, a record from an earlier run) is routed to eval_only too; a window packed before this
stage ran holds its parts' texts, so their personal data is found in it.
"""
from __future__ import annotations

from typing import Iterator

from curate.stage import Context, Item, Param, ParamError, Stage
from manifests import Record

from . import pii

TAG = "sensitive"


class Sensitive(Stage):
    name = "sensitive"
    summary = ("tag personal data (phone, ID, plate, bank card, e-mail, address) in text/hyp as "
               "sensitive:<kind> and route the record to eval_only")
    params = {
        "kinds": Param("list", pii.KINDS, "kinds of personal data to look for"),
        "fields": Param("list", ("text", "hyp"), "record fields to read (segment texts are read "
                                                 "with text; other names are custom fields)"),
        "redact": Param("bool", False, "also store masked copies of the texts (text_redacted, "
                                       "hyp_redacted) for sharing"),
    }
    needs_audio = False  # text only: the clip is never decoded for this stage

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
        """Find, tag and route one record; the masked findings go to ``extra["sensitive"]``."""
        findings: list[dict] = []
        for name, text in self._texts(rec):
            hits = pii.find(text, self.kinds)
            if not hits:
                continue
            findings += [{"field": name, "kind": h.kind, "start": h.start, "end": h.end,
                          "masked": h.masked()} for h in hits]
            if self.redact and not name.startswith("segments["):
                rec.extra[f"{name}_redacted"] = pii.redact(text, hits)
        for f in findings:
            rec.add_tag(f"{TAG}:{f['kind']}")
        if findings:
            rec.extra["sensitive"] = findings
        if rec.has_tag(TAG):
            rec.split = "eval_only"

    def _texts(self, rec: Record) -> Iterator[tuple[str, str]]:
        for name in self.fields:
            value = getattr(rec, name) if name in ("text", "hyp") else rec.extra.get(name)
            if isinstance(value, str) and value:
                yield name, value
            if name == "text" and rec.segments:
                # A segment read on its own: numbers never run on across a sentence boundary.
                for i, seg in enumerate(rec.segments):
                    if isinstance(seg.get("text"), str) and seg["text"]:
                        yield f"segments[{i}].text", seg["text"]
