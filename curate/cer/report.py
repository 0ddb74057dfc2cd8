"""The terminal report: rich tables of totals, comparisons, correction accounting, flags and
confusions. Every report starts with the normalisation profile the figures were computed under."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.text import Text

from ..console import Table, escape
from .confusions import homophones
from .evaluate import Evaluation
from .flags import FLAGS
from .view import Shown


def pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def print_report(ev: Evaluation, console: Console, shown: Shown | None = None,
                 show_bad: int = 0, top: int = 10) -> None:
    """Each id, text and token as ``shown`` shows it (personal data masked; None: as they
    are); the figures are the raw texts'."""
    s, ref = ev.settings, ev.reference
    shown = shown or Shown(ev, None)
    console.print(f"[bold]Reference[/] {escape(ref.source)}: {len(ref.ids)} utterances, "
                  f"{len(ev.ids)} scored, {int(ev.n.sum())} tokens (unit: {s.unit})")
    console.print(f"[bold]Profile[/] {escape(s.profile.describe())}")
    fuzzy_action = {"exclude": "excluded from scoring", "strip": "scored with markers removed",
                    "wildcard": "scored, markers match any span"}[s.fuzzy]
    console.print(f"[bold]Unclear spans[/] {len(ev.fuzzy_ids)} references (--fuzzy {s.fuzzy}: "
                  f"{fuzzy_action})")
    console.print(f"[bold]Missing hypotheses[/] --missing {s.missing}: "
                  + ("counted as all deletions" if s.missing == "deletions"
                     else "left out of that system's score")
                  + "; CER is shown both ways")
    if ev.empty_ref_ids:
        apart = "; ".join(f"{n} said {sr.empty_ref_insertions} tokens on {sr.empty_ref_hyps}"
                          for n, sr in ev.systems.items())
        console.print(f"[bold]Empty references[/] {len(ev.empty_ref_ids)}, scored apart "
                      f"({escape(apart)})")
    for p in list(ref.problems)[:10]:
        console.print(f"[yellow]reference problem[/] {escape(shown.problem(p))}")
    if len(ref.problems) > 10:
        console.print(f"[yellow]... {len(ref.problems) - 10} more reference problems[/]")
    for name, sr in ev.systems.items():
        for p in sr.problems[:5]:
            console.print(f"[yellow]{escape(name)} problem[/] {escape(shown.problem(p))}")
        if len(sr.problems) > 5:
            console.print(f"[yellow]... {len(sr.problems) - 5} more problems in "
                          f"{escape(name)}[/]")
        if sr.unknown_ids:
            some = ", ".join(shown.ids(sr.unknown_ids[:3]))
            console.print(f"[yellow]{escape(name)}[/]: {len(sr.unknown_ids)} hypothesis ids "
                          f"have no reference (e.g. {escape(some)})")
    console.print(*_systems_tables(ev))
    if ev.bootstrap.pairs and s.resamples:
        console.print(_pairs_table(ev))
    for c in ev.corrections:
        console.print(_correction_table(c))
    if ev.systems and next(iter(ev.systems.values())).flags:
        console.print(_flags_table(ev))
    for name, conf in ev.confusions.items():
        if conf.substitutions or conf.deletions or conf.insertions:
            console.print(_confusion_table(name, conf, shown, top))
    if show_bad:
        for name in ev.systems:
            table = _bad_table(ev, shown, name, show_bad)
            if table.row_count:
                console.print(table)


def _table(**kw) -> Table:
    """Tables without vertical rules, so a three-system report fits 80 columns; system names
    and ids fold, numbers stay whole."""
    return Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, **kw)


def _systems_tables(ev: Evaluation) -> tuple[Table, Table]:
    """Totals with the interval, then the same CER other ways and the per-system counts."""
    main = _table(title=f"CER per system (95% CI from {ev.settings.resamples} bootstrap "
                        f"resamples, seed {ev.settings.seed})", title_justify="left")
    main.add_column("system")
    for col in ("utts", "N", "C", "S", "D", "I", "CER", "95% CI"):
        main.add_number_column(col)
    more = _table(title="CER other ways, and utterance counts", title_justify="left")
    more.add_column("system")
    for col in ("raw CER", "CER, missing as deletions", "CER, missing skipped", "missing",
                "empty", "flagged"):
        more.add_number_column(col)
    for name, sr in ev.systems.items():
        tot = ev.totals[name]
        ci = ev.bootstrap.intervals.get(name)
        main.add_row(Text(name), str(tot.utterances), str(tot.N), str(tot.C), str(tot.S),
                     str(tot.D), str(tot.I), Text(pct(tot.cer), style="bold"),
                     f"{pct(ci[0])}–{pct(ci[1])}" if ci else "—")
        flagged = sum(1 for f in sr.flags if f and f != ("missing",))
        empty = sr.flag_counts()["empty"]
        more.add_row(Text(name), pct(ev.raw_cer[name]), pct(ev.totals_deletions[name].cer),
                     pct(ev.totals_skip[name].cer), str(int((~sr.present).sum())), str(empty),
                     str(flagged))
    return main, more


def _pairs_table(ev: Evaluation) -> Table:
    t = _table(title="Paired bootstrap: is the CER difference real?", title_justify="left")
    t.add_column("A")
    t.add_column("B")
    for col in ("utts", "CER A", "CER B", "B − A (points)", "p-value"):
        t.add_number_column(col)
    for p in ev.bootstrap.pairs:
        delta = None if p.cer_a is None else p.cer_b - p.cer_a
        t.add_row(Text(p.a), Text(p.b), str(p.utterances), pct(p.cer_a), pct(p.cer_b),
                  "—" if delta is None else f"{100 * delta:+.2f}",
                  "—" if p.p_value is None else f"{p.p_value:.4f}")
    return t


def _correction_table(c) -> Table:
    t = _table(title=escape(f"Correction: {c.b} correcting {c.a} ({c.utterances} utterances)"),
              title_justify="left", show_header=False)
    t.add_column("what")
    t.add_number_column("value")
    rows = [
        (f"CER {c.a} → {c.b}", f"{pct(c.cer_a)} → {pct(c.cer_b)}"),
        ("relative CER reduction", pct(c.relative_reduction, 1)),
        (f"errors of {c.a} fixed", f"{c.fixed} of {c.errors_a} (fix rate {pct(c.fix_rate, 1)})"),
        (f"errors of {c.a} persisted", str(c.persisted)),
        (f"errors introduced by {c.b}", str(c.introduced)),
        ("correct tokens broken (over-correction)",
         f"{c.broken} of {c.correct_a} ({pct(c.over_correction_rate)})"),
        ("utterances unchanged / edited", f"{c.unchanged} / {c.edited}"),
        ("edited: improved / degraded / same errors",
         f"{c.improved} / {c.degraded} / {c.edited_same_errors}"),
        ("oracle CER (better of the two per utterance)", pct(c.oracle_cer)),
    ]
    for what, value in rows:
        t.add_row(Text(what), Text(value))
    return t


def _flags_table(ev: Evaluation) -> Table:
    t = _table(title="Failure flags (utterances)", title_justify="left")
    t.add_column("flag", no_wrap=True)
    counts = {}
    for name, sr in ev.systems.items():
        t.add_number_column(Text(name))
        counts[name] = sr.flag_counts()
    for f in FLAGS:
        t.add_row(f, *(str(counts[name][f]) for name in ev.systems))
    return t


def _confusion_table(name: str, conf, shown: Shown, top: int) -> Table:
    """The top errors as shown (masked tokens, see Shown.confusions); the homophone share is
    the raw tokens'."""
    share = conf.homophone_share()
    conf = shown.confusions(name)
    t = _table(title=escape(f"{name}: top errors (homophones: {pct(share, 1)} of substitutions)"),
              title_justify="left")
    for col in ("substitution", "deletion", "insertion"):
        t.add_column(col)
        t.add_number_column("n")
    subs = conf.substitutions.most_common(top)
    dels = conf.deletions.most_common(top)
    ins = conf.insertions.most_common(top)
    for k in range(max(len(subs), len(dels), len(ins))):
        row = []
        if k < len(subs):
            (r, h), c = subs[k]
            row += [Text(f"{r} → {h}" + (" (homophone)" if homophones(r, h) else "")), str(c)]
        else:
            row += ["", ""]
        for items in (dels, ins):
            row += [Text(items[k][0]), str(items[k][1])] if k < len(items) else ["", ""]
        t.add_row(*row)
    return t


def _bad_table(ev: Evaluation, shown: Shown, name: str, limit: int) -> Table:
    """The flagged utterances of one system, the most errors first."""
    sr = ev.systems[name]
    errors = sr.errors
    flagged = [k for k, f in enumerate(sr.flags) if f]
    flagged.sort(key=lambda k: (-int(errors[k]), ev.ids[k]))
    t = _table(title=escape(f"{name}: flagged utterances ({len(flagged)}; showing "
                           f"{min(limit, len(flagged))})"), title_justify="left")
    t.add_column("id")
    t.add_column("flags")
    t.add_number_column("errors")
    t.add_column("reference")
    t.add_column("hypothesis")
    for k in flagged[:limit]:
        ref, hyp = shown.raw(name, k)
        t.add_row(Text(shown.text(ev.ids[k])), ", ".join(sr.flags[k]),
                  f"{int(errors[k])}/{int(ev.n[k])}", Text(ref), Text(hyp or ""))
    return t
