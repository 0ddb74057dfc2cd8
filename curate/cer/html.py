"""``report.html`` for ``curate cer --out``: one self-contained page that works offline.

Per utterance the reference and every system's alignment to it (substitutions, deletions and
insertions marked, each edit one column so Chinese characters line up), the flags, and an audio
player when the reference is a manifest or run directory. The players *link* to the audio files
(relative to the report, with a media fragment for the record's slice) rather than embed them: a
20,000-utterance eval set would otherwise make a page of gigabytes, and no audio of an eval set
(which is often the personal-data set) is copied into a file made for sharing. Move the report
with its audio, or open it where it was written.

The utterances travel as JSON in the page and a small script renders one page of them at a time
through ``textContent`` (so nothing user-supplied is ever read as HTML) and filters them:
fixed / broken by a corrector, all systems wrong, by flag, by CER band. Every id, text and token is
shown as the caller's ``Shown`` shows it (personal data masked per token, each masking carried
across the alignment, see view.py), so the alignment stays.
"""
from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from string import Template
from urllib.parse import quote

from .confusions import homophones
from .evaluate import Evaluation
from .flags import FLAGS
from .report import pct
from .view import Shown, columns, join_tokens

TOP_CONFUSIONS = 20
BANDS = ((0.0, 0.0, "0"), (0.0, 0.1, "0–10%"), (0.1, 0.3, "10–30%"), (0.3, 1.0, "30–100%"),
         (1.0, float("inf"), "over 100%"))  # (above, up to and including, label); "0" is exact

_OPS = {"replace": "S", "delete": "D", "insert": "I", "absorb": "~"}


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cells(ref_tokens, hyp_tokens, ops, cuts, absorbed) -> list:
    """The alignment as compact JSON cells: a string for a run of matched tokens, else
    ``[op, ref, hyp]`` with op S, D, I or ~ (a span an unclear-span wildcard absorbed)."""
    return [r if not tag else [_OPS[tag], r or "", h or ""]
            for r, h, tag in columns(ref_tokens, hyp_tokens, ops, cuts, absorbed,
                                    join=join_tokens)]


WITHHELD = object()   # _audio_src: the record has audio, but its path would show personal data


def _audio_src(ev: Evaluation, rid: str, out_dir: Path, shown: Shown):
    """The player's link, None without audio, or WITHHELD when the mask would change the path
    (audio files are often named after record ids, which can hold a phone number): a link cannot
    be masked and still play, so that row gets no player."""
    where = ev.reference.audio.get(rid)
    if where is None:
        return None
    file, offset, duration = where
    rel = os.path.relpath(os.path.abspath(file), os.path.abspath(out_dir))
    if shown.text(rel) != rel:
        return WITHHELD
    src = quote(Path(rel).as_posix())
    if offset or duration is not None:
        end = f",{offset + duration:.3f}" if duration is not None else ""
        src += f"#t={offset:.3f}{end}"
    return src


def pairs_of(ev: Evaluation) -> list[tuple[str, str]]:
    """(B, A) pairs the fixed/broken filters offer: the --corrects pairs, else every system
    against the first."""
    if ev.settings.corrects:
        return list(ev.settings.corrects)
    names = list(ev.systems)
    return [(b, names[0]) for b in names[1:]]


def page_data(ev: Evaluation, out_dir: Path, shown: Shown) -> dict:
    names = list(ev.systems)
    systems = [ev.systems[n] for n in names]
    masks = [ev.mask(n).tolist() for n in names]
    per = [(sr.present.tolist(), sr.S.tolist(), sr.D.tolist(), sr.I.tolist()) for sr in systems]
    utts, withheld = [], 0
    for k, rid in enumerate(ev.ids):
        cuts = ev.wildcard_cuts.get(k, ())
        row_systems = []
        for s, sr in enumerate(systems):
            present, S, D, I = per[s]
            flags = list(sr.flags[k]) if sr.flags else []
            ref_tokens, hyp_tokens = shown.tokens(sr.name, k)
            if not present[k]:
                cells = None
            elif sr.ops[k] or k in sr.absorbed:
                cells = _cells(ref_tokens, hyp_tokens, sr.ops[k], cuts, sr.absorbed.get(k, ()))
            else:  # the hypothesis reads as the reference
                cells = [join_tokens(ref_tokens)]
            row_systems.append([S[k], D[k], I[k], 1 if masks[s][k] else 0, flags, cells])
        src = _audio_src(ev, rid, out_dir, shown)
        if src is WITHHELD:   # false, not null: the row says its audio is withheld
            src, withheld = False, withheld + 1
        utts.append([shown.text(rid), src, int(ev.n[k]), shown.reference(k), row_systems])
    return {"systems": names, "pairs": pairs_of(ev), "flags": list(FLAGS),
            "bands": [[lo, hi if hi != float("inf") else None, label] for lo, hi, label in BANDS],
            "utts": utts, "audio_withheld": withheld}


def _withheld_note(count: int) -> str:
    if not count:
        return ""
    return (f'<p class="note" id="audio-withheld">Audio withheld for {count} utterance(s): '
            f'the audio file name holds personal data, so no player links to it.</p>')


def _summary_table(ev: Evaluation) -> str:
    rows = []
    for name, sr in ev.systems.items():
        t, ci = ev.totals[name], ev.bootstrap.intervals.get(name)
        cells = [("utterances", t.utterances, t.utterances), ("N", t.N, t.N), ("S", t.S, t.S),
                 ("D", t.D, t.D), ("I", t.I, t.I), ("cer", t.cer, pct(t.cer)),
                 ("ci", json.dumps(list(ci)) if ci else "", (f"{pct(ci[0])} – {pct(ci[1])}"
                                                              if ci else "—")),
                 ("missing", int((~sr.present).sum()), int((~sr.present).sum())),
                 ("cer_raw", ev.raw_cer[name], pct(ev.raw_cer[name]))]
        tds = "".join(f'<td class="num" data-k="{k}" data-value="{esc(v)}">{esc(shown)}</td>'
                      for k, v, shown in cells)
        rows.append(f'<tr data-system="{esc(name)}"><th>{esc(name)}</th>{tds}</tr>')
    head = "".join(f"<th>{h}</th>" for h in ("system", "utterances", "N", "S", "D", "I", "CER",
                                              "95% CI", "missing", "raw CER"))
    return (f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            '</table>')


def _corrections_table(ev: Evaluation) -> str:
    if not ev.corrections:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("B corrects A", "CER A", "CER B", "fixed",
                                              "introduced", "fix rate", "break rate",
                                              "relative CER reduction", "improved", "degraded"))
    rows = "".join(
        f'<tr><th>{esc(c.b)} : {esc(c.a)}</th><td class="num">{pct(c.cer_a)}</td>'
        f'<td class="num">{pct(c.cer_b)}</td><td class="num">{c.fixed}</td>'
        f'<td class="num">{c.introduced}</td><td class="num">{pct(c.fix_rate)}</td>'
        f'<td class="num">{pct(c.over_correction_rate)}</td>'
        f'<td class="num">{pct(c.relative_reduction)}</td><td class="num">{c.improved}</td>'
        f'<td class="num">{c.degraded}</td></tr>' for c in ev.corrections)
    return (f'<h2>Correction accounting</h2><table id="corrections"><thead><tr>{head}</tr>'
            f'</thead><tbody>{rows}</tbody></table>')


def _confusions(ev: Evaluation, shown: Shown) -> str:
    """The top edits as shown (``Shown.confusions``); the homophone share is the raw tokens'."""
    out = []
    for name, raw in ev.confusions.items():
        share, conf = raw.homophone_share(), shown.confusions(name)
        subs = "".join(
            f'<tr><td>{esc(r)}</td><td>{esc(h)}</td><td class="num">{c}</td>'
            f'<td>{_same_sound(shown, r, h)}</td></tr>'
            for (r, h), c in conf.substitutions.most_common(TOP_CONFUSIONS))
        dels = "".join(f'<tr><td>{esc(r)}</td><td class="num">{c}</td></tr>'
                       for r, c in conf.deletions.most_common(TOP_CONFUSIONS))
        ins = "".join(f'<tr><td>{esc(h)}</td><td class="num">{c}</td></tr>'
                      for h, c in conf.insertions.most_common(TOP_CONFUSIONS))
        out.append(
            f'<section class="confusions" data-system="{esc(name)}"><h3>{esc(name)}</h3>'
            f'<p>homophone share of substitutions: <b class="homophones">{pct(share)}</b> '
            f'({raw.homophone_substitutions()} of {sum(raw.substitutions.values())})</p>'
            '<div class="tables">'
            f'<table><thead><tr><th>ref</th><th>hyp</th><th>count</th><th>homophone</th></tr>'
            f'</thead><tbody>{subs}</tbody></table>'
            f'<table><thead><tr><th>deleted</th><th>count</th></tr></thead><tbody>{dels}'
            f'</tbody></table>'
            f'<table><thead><tr><th>inserted</th><th>count</th></tr></thead><tbody>{ins}'
            f'</tbody></table></div></section>')
    return "".join(out)


def _same_sound(shown: Shown, r: str, h: str) -> str:
    return "masked" if shown.masked(r) or shown.masked(h) else "yes" if homophones(r, h) else ""


def _script_json(value) -> str:
    """JSON safe inside <script>: no '<' at all, so no '</script>' or '<!--' can end it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def render(ev: Evaluation, out_dir: Path, shown: Shown) -> str:
    template = Template(resources.files("curate").joinpath("templates", "cer_report.html")
                        .read_text(encoding="utf-8"))
    data = page_data(ev, out_dir, shown)
    return template.substitute(
        title=esc(f"CER report: {ev.reference.source}"),
        source=esc(ev.reference.source), profile=esc(ev.settings.profile.describe()),
        unit=esc(ev.settings.unit), scored=len(ev.ids), tokens=int(ev.n.sum()),
        summary_table=_summary_table(ev) + _withheld_note(data["audio_withheld"]),
        corrections_table=_corrections_table(ev), confusions=_confusions(ev, shown),
        data=_script_json(data))
