"""The files ``--out DIR`` writes: summary.json, per_utt.tsv, confusions.tsv, alignment.txt and
report.html (see html.py)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from manifests.jsonl import atomic_write_text

from .align import TIE_BREAK
from .confusions import homophones
from .evaluate import Evaluation
from .html import render as report_html
from .score import CONFIDENCE
from .view import Shown, columns, render

FILES = ("summary.json", "per_utt.tsv", "confusions.tsv", "alignment.txt", "report.html")
LISTED_IDS = 50  # ids listed per category in summary.json; the counts are always complete


def write_all(ev: Evaluation, out: Path, shown: Shown | None = None) -> list[Path]:
    """Every file of FILES, each id, text and token as ``shown`` shows it (personal data
    masked; None: as they are); the figures are the raw texts'."""
    out.mkdir(parents=True, exist_ok=True)
    shown = shown or Shown(ev, None)
    paths = [out / name for name in FILES]
    atomic_write_text(paths[0], json.dumps(finite(summary(ev, shown)), ensure_ascii=False,
                                            indent=2) + "\n")
    atomic_write_text(paths[1], per_utterance_tsv(ev, shown))
    atomic_write_text(paths[2], confusions_tsv(ev, shown))
    atomic_write_text(paths[3], alignment_text(ev, shown))
    atomic_write_text(paths[4], report_html(ev, out, shown))
    return paths


def summary(ev: Evaluation, shown: Shown | None = None) -> dict:
    """The figures, and the ids and problems behind them as ``shown`` shows them (the board
    takes only figures: no ``shown``, nothing masked)."""
    shown = shown or Shown(ev, None)
    s, ref = ev.settings, ev.reference
    systems = {}
    for name, sr in ev.systems.items():
        t, ci = ev.totals[name], ev.bootstrap.intervals.get(name)
        conf = ev.confusions.get(name)
        flags = sr.flag_counts()
        systems[name] = {
            "source": sr.source,
            "utterances": t.utterances, "N": t.N, "C": t.C, "S": t.S, "D": t.D, "I": t.I,
            "errors": t.errors, "cer": t.cer,
            "cer_ci95": list(ci) if ci else None,
            "cer_raw": ev.raw_cer[name],
            "cer_missing_as_deletions": ev.totals_deletions[name].cer,
            "cer_missing_skipped": ev.totals_skip[name].cer,
            "missing": int((~sr.present).sum()),
            "empty": flags["empty"],
            "flags": flags,
            "homophone_share": conf.homophone_share() if conf else None,
            "hyp_ids_without_reference": {"count": len(sr.unknown_ids),
                                          "ids": shown.ids(sr.unknown_ids[:LISTED_IDS])},
            "empty_references": {"utterances_with_output": sr.empty_ref_hyps,
                                 "insertions": sr.empty_ref_insertions},
            "problems": [shown.problem(p) for p in sr.problems],
        }
    return {
        "reference": {"source": ref.source, "utterances": len(ref.ids), "scored": len(ev.ids),
                      "N": int(ev.n.sum()),
                      "fuzzy": {"mode": s.fuzzy, "count": len(ev.fuzzy_ids),
                                "ids": shown.ids(ev.fuzzy_ids[:LISTED_IDS])},
                      "empty": {"count": len(ev.empty_ref_ids),
                                "ids": shown.ids(ev.empty_ref_ids[:LISTED_IDS])},
                      "problems": [shown.problem(p) for p in ref.problems]},
        "profile": s.profile.to_dict(),
        "unit": s.unit,
        "missing": s.missing,
        "tie_break": TIE_BREAK,
        "bootstrap": {"resamples": s.resamples, "seed": s.seed, "confidence": CONFIDENCE},
        "systems": systems,
        "comparisons": [{"a": p.a, "b": p.b, "utterances": p.utterances, "cer_a": p.cer_a,
                         "cer_b": p.cer_b, "p_value": p.p_value} for p in ev.bootstrap.pairs],
        "corrections": [c.to_dict() for c in ev.corrections],
    }


def per_utterance_tsv(ev: Evaluation, shown: Shown | None = None) -> str:
    shown = shown or Shown(ev, None)
    lines = ["system\tid\tref\thyp\tN\tS\tD\tI\tCER\tflags"]
    ns, ids = ev.n.tolist(), shown.ids(ev.ids)
    for name, sr in ev.systems.items():
        flags = [",".join(f) for f in sr.flags] if sr.flags else [""] * len(ns)
        for k, (rid, n, s, d, i, fl) in enumerate(zip(ids, ns, sr.S.tolist(), sr.D.tolist(),
                                                      sr.I.tolist(), flags)):
            ref, hyp = shown.normalised(name, k)
            lines.append(f"{name}\t{rid}\t{ref}\t{hyp}\t{n}\t{s}\t{d}\t{i}"
                         f"\t{(s + d + i) / n:.4f}\t{fl}")
    return "\n".join(lines) + "\n"


def confusions_tsv(ev: Evaluation, shown: Shown | None = None) -> str:
    """The edits of each system by token; an edit at a masked position is listed under its
    masked tokens, its homophone column ``masked``."""
    shown = shown or Shown(ev, None)
    lines = ["system\tkind\tref\thyp\tcount\thomophone"]
    for name in ev.confusions:
        conf = shown.confusions(name)
        for (r, h), c in conf.substitutions.most_common():
            same_sound = ("masked" if shown.masked(r) or shown.masked(h)
                          else "yes" if homophones(r, h) else "no")
            lines.append(f"{name}\tsubstitution\t{r}\t{h}\t{c}\t{same_sound}")
        for r, c in conf.deletions.most_common():
            lines.append(f"{name}\tdeletion\t{r}\t\t{c}\t")
        for h, c in conf.insertions.most_common():
            lines.append(f"{name}\tinsertion\t\t{h}\t{c}\t")
    return "\n".join(lines) + "\n"


def alignment_text(ev: Evaluation, shown: Shown | None = None) -> str:
    """Every utterance some system got wrong, each system's alignment under it."""
    shown = shown or Shown(ev, None)
    out = [f"# alignment view: {ev.settings.profile.describe()}; unit {ev.settings.unit}",
           "# S substitution, D deletion, I insertion, ~ span absorbed by an unclear-span "
           "wildcard; * no token", ""]
    width = max((len(n) for n in ev.systems), default=0)
    systems = [(sr, sr.name.ljust(width), sr.present.tolist(), sr.S.tolist(), sr.D.tolist(),
                sr.I.tolist()) for sr in ev.systems.values()]
    cuts, ns = ev.wildcard_cuts, ev.n.tolist()
    shown_ids = sorted({k for sr in ev.systems.values() for k, ops in enumerate(sr.ops) if ops}
                       | {k for sr in ev.systems.values() for k in sr.absorbed})
    for k in shown_ids:
        out.append(f"== {shown.text(ev.ids[k])}")
        for sr, label, present, S, D, I in systems:
            if not present[k]:
                out.append(f"{label}  missing: all {ns[k]} reference tokens deleted")
                continue
            if not sr.ops[k] and k not in sr.absorbed:
                out.append(f"{label}  correct")
                continue
            s, d, i = S[k], D[k], I[k]
            ref_tokens, hyp_tokens = shown.tokens(sr.name, k)
            ref_line, hyp_line, op_line = render(columns(
                ref_tokens, hyp_tokens, sr.ops[k], cuts.get(k, ()), sr.absorbed.get(k, ())))
            out += [f"{label}  S={s} D={d} I={i}  CER {(s + d + i) / ns[k]:.1%}",
                    f"  REF: {ref_line}", f"  HYP: {hyp_line}", f"       {op_line}".rstrip()]
        out.append("")
    return "\n".join(out) + "\n"


def finite(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
