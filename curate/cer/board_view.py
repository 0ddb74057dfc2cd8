"""The board as people read it: the experiments × eval sets grid (terminal table, TSV, HTML with a
CER chart per eval set). Every view is built from one ``Grid``, so they show the same figures."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from string import Template

from . import board as B
from .html import esc
from .report import pct

TSV_COLUMNS = ("eval", "eval_fingerprint", "scoring", "system", "utterances", "N", "S", "D", "I",
               "cer", "ci_low", "ci_high", "cer_raw", "missing", "empty", "best", "p_vs_baseline",
               "corrects", "fix_rate", "break_rate", "relative_cer_reduction", "model", "family",
               "step", "recipe", "task", "prompt", "decoding", "data", "code", "time", "hyp")


@dataclass
class Grid:
    columns: list[B.EvalColumn]
    systems: list[str]
    cells: dict[tuple[str, tuple], dict]            # (system, eval key) -> board row
    best: dict[tuple, set[str]]
    baseline: str | None = None
    p: dict[tuple, float | None] = field(default_factory=dict)  # (eval key, system) -> p


def grid(rows: list[dict], baseline: str | None = None) -> Grid:
    return Grid(columns=B.columns(rows),
                systems=list(dict.fromkeys(r["system"] for r in rows)),
                cells={(r["system"], B.eval_key(r)): r for r in rows},
                best=B.best_systems(rows), baseline=baseline,
                p=B.p_values(rows, baseline) if baseline else {})


def p_text(p: float | None) -> str:
    return "—" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def cell_lines(g: Grid, system: str, col: B.EvalColumn) -> list[str] | None:
    """What a grid cell says, line by line: CER (★ best), interval, p against the baseline."""
    row = g.cells.get((system, col.key))
    if row is None:
        return None
    best = " ★" if system in g.best.get(col.key, ()) else ""
    lines = [pct(row["cer"]) + best]
    ci = row.get("cer_ci95")
    if ci:
        lines.append(f"[{pct(ci[0])}, {pct(ci[1])}]")
    if g.baseline:
        lines.append("baseline" if system == g.baseline
                     else f"p={p_text(g.p.get((col.key, system)))}")
    return lines


def tsv(g: Grid) -> str:
    """One line per result (a long table: a spreadsheet pivots it as it likes)."""
    lines = ["\t".join(TSV_COLUMNS)]
    for col in g.columns:
        for system in g.systems:
            row = g.cells.get((system, col.key))
            if row is None:
                continue
            ci = row.get("cer_ci95") or [None, None]
            corr = row.get("correction") or {}
            prov = B.provenance_summary(row)
            values = {
                "eval": col.label, "eval_fingerprint": col.key[1], "scoring": col.key[2],
                "system": system, "ci_low": ci[0], "ci_high": ci[1],
                "best": "yes" if system in g.best.get(col.key, ()) else "",
                "p_vs_baseline": g.p.get((col.key, system)) if g.baseline else None,
                "corrects": corr.get("corrects"), "fix_rate": corr.get("fix_rate"),
                "break_rate": corr.get("break_rate"),
                "relative_cer_reduction": corr.get("relative_cer_reduction"),
                **prov, **{k: row.get(k) for k in ("utterances", "N", "S", "D", "I", "cer",
                                                   "cer_raw", "missing", "empty", "time",
                                                   "hyp")}}
            lines.append("\t".join(_tsv_field(values[k]) for k in TSV_COLUMNS))
    return "\n".join(lines) + "\n"


def _tsv_field(value) -> str:
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)
    return " ".join(text.split())  # no tab or line break may split a field


# --- HTML -------------------------------------------------------------------------------------

BAR_H, GAP, LABEL_W, CHART_W, MT, MB = 20, 8, 150, 420, 10, 34


def chart(g: Grid, col: B.EvalColumn) -> str:
    """Horizontal CER bars per system with the 95 % interval as a whisker; best in green."""
    rows = [(s, g.cells[s, col.key]) for s in g.systems if (s, col.key) in g.cells]
    top = max([r["cer"] or 0 for _, r in rows]
              + [(r.get("cer_ci95") or [0, 0])[1] or 0 for _, r in rows] + [1e-9])
    xmax = _nice_top(top)
    height = MT + len(rows) * (BAR_H + GAP) + MB
    width = LABEL_W + CHART_W + 90

    def x(v: float) -> float:
        return LABEL_W + v / xmax * CHART_W

    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="CER on {esc(col.label)}">']
    base_y = MT + len(rows) * (BAR_H + GAP)
    for t in _ticks(xmax):
        parts.append(f'<line x1="{x(t):.1f}" y1="{MT}" x2="{x(t):.1f}" y2="{base_y}" '
                     f'stroke="#e5e5e5"/><text x="{x(t):.1f}" y="{base_y + 14}" class="tick" '
                     f'text-anchor="middle">{100 * t:g}%</text>')
    for i, (system, row) in enumerate(rows):
        y = MT + i * (BAR_H + GAP)
        cer = row["cer"] or 0.0
        best = system in g.best.get(col.key, ())
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H * 0.7:.1f}" class="label" '
                     f'text-anchor="end">{esc(system)}</text>'
                     f'<rect class="bar" data-system="{esc(system)}" data-cer="{esc(row["cer"])}" '
                     f'x="{LABEL_W}" y="{y}" width="{max(x(cer) - LABEL_W, 1):.1f}" '
                     f'height="{BAR_H}" fill="{"#59a14f" if best else "#4c78a8"}">'
                     f'<title>{esc(system)}: {pct(row["cer"])}</title></rect>')
        ci = row.get("cer_ci95")
        if ci:
            cy = y + BAR_H / 2
            parts.append(f'<g class="ci"><line x1="{x(ci[0]):.1f}" y1="{cy}" x2="{x(ci[1]):.1f}" '
                         f'y2="{cy}" stroke="#222"/><line x1="{x(ci[0]):.1f}" y1="{cy - 5}" '
                         f'x2="{x(ci[0]):.1f}" y2="{cy + 5}" stroke="#222"/>'
                         f'<line x1="{x(ci[1]):.1f}" y1="{cy - 5}" x2="{x(ci[1]):.1f}" '
                         f'y2="{cy + 5}" stroke="#222"/></g>')
        parts.append(f'<text x="{x(max(cer, ci[1] if ci else 0)) + 6:.1f}" '
                     f'y="{y + BAR_H * 0.7:.1f}" class="tick">{pct(row["cer"])}</text>')
    parts.append(f'<text x="{LABEL_W + CHART_W / 2}" y="{height - 4}" class="label" '
                 'text-anchor="middle">CER (bar) with 95% bootstrap interval</text></svg>')
    return "".join(parts)


def _nice_top(value: float) -> float:
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp + 1e-12:
            return m * exp
    return 10 * exp


def _ticks(top: float) -> list[float]:
    step = top / 5
    return [i * step for i in range(6)]


def page(g: Grid, title: str, source: str) -> str:
    template = Template(resources.files("curate").joinpath("templates", "board.html")
                        .read_text(encoding="utf-8"))
    head = "".join(f'<th data-eval="{esc(c.label)}">{esc(c.label)}</th>' for c in g.columns)
    body = []
    for system in g.systems:
        tds = []
        for col in g.columns:
            lines = cell_lines(g, system, col)
            row = g.cells.get((system, col.key))
            if lines is None:
                tds.append('<td class="empty">—</td>')
                continue
            best = system in g.best.get(col.key, ())
            tds.append(f'<td class="num{" best" if best else ""}" data-eval="{esc(col.label)}" '
                       f'data-cer="{esc(row["cer"])}">'
                       + "<br>".join(esc(line) for line in lines) + "</td>")
        body.append(f'<tr data-system="{esc(system)}"><th>{esc(system)}</th>{"".join(tds)}</tr>')
    prov = []
    for col in g.columns:
        for system in g.systems:
            row = g.cells.get((system, col.key))
            if row is None:
                continue
            p = B.provenance_summary(row)
            prov.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
                system, col.label, p["model"], p["step"], p["recipe"], p["task"], p["prompt"],
                p["decoding"], p["data"], p["code"], row.get("time"))) + "</tr>")
    charts = "".join(f'<figure class="eval-chart" data-eval="{esc(c.label)}"><figcaption>'
                     f'{esc(c.label)}</figcaption>{chart(g, c)}</figure>' for c in g.columns)
    return template.substitute(
        title=esc(title), source=esc(source),
        baseline=esc(f"p-values: paired bootstrap against {g.baseline}") if g.baseline else "",
        head=head, body="".join(body), provenance="".join(prov), charts=charts)
