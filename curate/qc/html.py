"""``report.html`` for ``curate qc``: one self-contained file that works offline.

Plots are inline SVG drawn here (no script, no library, nothing fetched); each flagged record's
audio is embedded as a FLAC data URI, so the page plays from a file:// URL, an e-mail attachment
or a shared drive alike. Audio of records holding personal data is left out.
"""
from __future__ import annotations

import base64
import html
import io
import math
from importlib import resources
from string import Template

from ..engine.summary import KEEP_LONG

W, H = 640, 260                      # plot size in CSS pixels
ML, MR, MT, MB = 52, 16, 14, 40      # margins: left, right, top, bottom
PW, PH = W - ML - MR, H - MT - MB     # the plotting area inside the margins
MAX_AUDIO_SECONDS = 30.0             # longer clips are embedded up to this (keeps the file small)
RATE_COLOURS = {None: "#4c78a8", "rate_too_fast": "#d62728", "rate_too_slow": "#ff7f0e"}


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# --- audio ------------------------------------------------------------------------------------

def audio_data_uri(path: str, offset: float, duration: float) -> str:
    """The slice as a 16 kHz FLAC data URI (raises manifests.audio.AudioError)."""
    import soundfile as sf

    from manifests.audio import TARGET_SR, load

    audio = load(path, offset, min(duration, MAX_AUDIO_SECONDS))
    buf = io.BytesIO()
    sf.write(buf, audio, TARGET_SR, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --- plots ------------------------------------------------------------------------------------

def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * exp + 1e-12:
            return m * exp
    return 10 * exp


def _ticks(top: float, count: int = 5) -> list[float]:
    step = _nice_step(top / count)
    return [round(i * step, 6) for i in range(int(top / step + 1e-9) + 1)]


def _nice_top(value: float) -> float:
    """The smallest multiple of a round step that is at least ``value``."""
    step = _nice_step(value / 5)
    return max(step, math.ceil(value / step - 1e-9) * step)


def histogram(values: list[float], bins: int = 30) -> tuple[float, list[int]]:
    """(bin width, counts) over [0, max], the width a round number so the axis reads well."""
    if not values:
        return 1.0, [0]
    step = _nice_step(max(values) / bins)
    n = max(1, math.ceil(max(values) / step - 1e-9))  # the maximum closes the last bin
    counts = [0] * n
    for v in values:
        counts[min(n - 1, int(v // step))] += 1
    return step, counts


def _frame(x_label: str, y_label: str, xmax: float, ymax: float, body: str, title: str) -> str:
    parts = [(f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
              f'viewBox="0 0 {W} {H}" role="img" aria-label="{esc(title)}">'),
             f'<rect x="{ML}" y="{MT}" width="{PW}" height="{PH}" fill="#fafafa" stroke="#ccc"/>']
    for t in _ticks(xmax):
        x = ML + t / xmax * PW
        parts.append(f'<line x1="{x:.1f}" y1="{MT + PH}" x2="{x:.1f}" y2="{MT + PH + 4}" '
                     f'stroke="#555"/><text x="{x:.1f}" y="{MT + PH + 16}" class="tick" '
                     f'text-anchor="middle">{t:g}</text>')
    for t in _ticks(ymax):
        y = MT + PH - t / ymax * PH
        parts.append(f'<line x1="{ML - 4}" y1="{y:.1f}" x2="{ML + PW}" y2="{y:.1f}" '
                     f'stroke="#e5e5e5"/><text x="{ML - 6}" y="{y + 4:.1f}" class="tick" '
                     f'text-anchor="end">{t:g}</text>')
    parts.append(body)
    parts.append(f'<text x="{ML + PW / 2}" y="{H - 6}" class="axis" text-anchor="middle">'
                 f'{esc(x_label)}</text>')
    parts.append(f'<text transform="translate(14,{MT + PH / 2}) rotate(-90)" class="axis" '
                 f'text-anchor="middle">{esc(y_label)}</text></svg>')
    return "".join(parts)


def duration_histogram(durations: list[float]) -> str:
    step, counts = histogram(durations)
    xmax, ymax = step * len(counts), _nice_top(max(1, max(counts)))
    bars = []
    for i, c in enumerate(counts):
        if not c:
            continue
        x, w = ML + i * step / xmax * PW, step / xmax * PW
        h = c / ymax * PH
        bars.append(f'<rect class="bar" x="{x + 0.5:.1f}" y="{MT + PH - h:.1f}" '
                    f'width="{max(w - 1, 1):.1f}" height="{h:.1f}" fill="#4c78a8">'
                    f'<title>{i * step:g}–{(i + 1) * step:g} s: {c}</title></rect>')
    return _frame("duration (s)", "records", xmax, ymax, "".join(bars), "duration histogram")


def rate_scatter(points: list[dict], band: dict | None) -> str:
    """Speaking rate against duration; flagged records in colour, the dataset band dashed."""
    if not points:
        return _frame("duration (s)", "units per second", 1, 1,
                      f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="axis">'
                      'no labelled record was measured</text>', "speaking rate")
    xmax = _nice_top(max(p["duration"] for p in points) or 1.0)
    ytop = max(p["rate"] for p in points)
    if band and "high" in band:
        ytop = max(ytop, band["high"])
    ymax = _nice_top(ytop * 1.05 or 1.0)

    def xy(d, r):
        return ML + d / xmax * PW, MT + PH - min(r, ymax) / ymax * PH

    body = []
    if band:
        for key, label in (("low", "band"), ("high", "band"), ("median", "median")):
            if key in band:
                y = xy(0, band[key])[1]
                dash = "2,3" if key == "median" else "6,4"
                body.append(f'<line class="band" x1="{ML}" y1="{y:.1f}" x2="{ML + PW}" '
                            f'y2="{y:.1f}" stroke="#888" stroke-dasharray="{dash}"/>'
                            f'<text x="{ML + PW - 4}" y="{y - 3:.1f}" class="tick" '
                            f'text-anchor="end">{label} {band[key]:.2f}</text>')
    # Flagged points last, so they are drawn on top.
    for p in sorted(points, key=lambda p: p["flag"] is not None):
        x, y = xy(p["duration"], p["rate"])
        colour = RATE_COLOURS.get(p["flag"], "#4c78a8")
        radius = 5 if p["flag"] else 3
        body.append(f'<circle class="{"outlier" if p["flag"] else "point"}" cx="{x:.1f}" '
                    f'cy="{y:.1f}" r="{radius}" fill="{colour}" fill-opacity="0.8">'
                    f'<title>{esc(p["id"])}: {p["rate"]:.2f}/s over {p["duration"]:.2f} s'
                    f'{" (" + p["flag"] + ")" if p["flag"] else ""}</title></circle>')
    legend = (f'<g class="legend"><circle cx="{ML + 10}" cy="{MT + 10}" r="4" fill="#d62728"/>'
              f'<text x="{ML + 18}" y="{MT + 14}" class="tick">too fast</text>'
              f'<circle cx="{ML + 80}" cy="{MT + 10}" r="4" fill="#ff7f0e"/>'
              f'<text x="{ML + 88}" y="{MT + 14}" class="tick">too slow</text></g>')
    return _frame("duration (s)", "characters + words per second", xmax, ymax,
                  "".join(body) + legend, "speaking rate")


def batch_bars(batches: list[dict]) -> str:
    """Share of flagged records per annotation batch, with counts."""
    if not batches:
        return ('<p class="note">The records carry no annotation batch '
                '(<code>batch</code> field).</p>')
    rows = sorted(batches, key=lambda b: str(b["name"]))
    bar_h, gap = 22, 8
    height = MT + len(rows) * (bar_h + gap) + 30
    label_w = 120
    pw = W - label_w - 90
    parts = [(f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{W}" '
              f'height="{height}" viewBox="0 0 {W} {height}" role="img" '
              'aria-label="flagged share per batch">')]
    for i, b in enumerate(rows):
        y = MT + i * (bar_h + gap)
        w = b["share"] * pw
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" class="axis" '
                     f'text-anchor="end">{esc(b["name"])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{pw}" height="{bar_h}" fill="#eee"/>'
                     f'<rect class="bar" x="{label_w}" y="{y}" width="{max(w, 1):.1f}" '
                     f'height="{bar_h}" fill="#e45756"><title>{esc(b["name"])}: {b["flagged"]} of '
                     f'{b["records"]} flagged</title></rect>'
                     f'<text x="{label_w + pw + 6}" y="{y + bar_h * 0.7:.1f}" class="tick">'
                     f'{b["flagged"]}/{b["records"]} ({b["share"]:.0%})</text>')
    y = MT + len(rows) * (bar_h + gap) + 14
    parts.append(f'<text x="{label_w + pw / 2}" y="{y}" class="axis" text-anchor="middle">'
                 'share of records flagged</text></svg>')
    return "".join(parts)


# --- tables -----------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _tags_table(report: dict) -> str:
    rows = [[f'<span class="tag">{esc(t["tag"])}</span>', t["records"], f'{t["share"]:.1%}',
             f'{t["hours"]:.3f}', t["rejected"]] for t in report["tags"]]
    if not rows:
        return '<p class="note">No record was flagged.</p>'
    return _table(["tag", "records", "share", "hours", "also rejected"], rows)


def _group_table(groups: list[dict], label: str, limit: int = 30) -> str:
    if not groups:
        return f'<p class="note">The records carry no {esc(label)}.</p>'
    rows = [[esc(g["name"]), g["records"], f'{g["hours"]:.3f}', g["flagged"], f'{g["share"]:.0%}',
             esc(", ".join(f"{t} {n}" for t, n in g["tags"].items()))] for g in groups[:limit]]
    note = (f'<p class="note">{len(groups) - limit} more not shown.</p>'
            if len(groups) > limit else "")
    return _table([label, "records", "hours", "flagged", "share", "tags"], rows) + note


def _values(values: dict, inherited: list[str]) -> str:
    fmt = {"rate": "{:.2f}/s", "snr_db": "SNR {:.1f} dB", "level_dbfs": "{:.1f} dBFS",
           "clip_ratio": "clipped {:.2%}", "cer_hyp": "CER {:.0%}", "cer_text_b": "CER(b) {:.0%}",
           "dc": "DC {:+.3f}", "sample_rate": "{} Hz", "channels": "{} ch", "dup_of": "dup of {}"}
    lines = [esc(fmt[k].format(v)) for k, v in values.items() if k in fmt]
    if values.get("mixed_numerals"):
        lines.append(esc("numerals: " + ", ".join(values["mixed_numerals"])))
    if inherited:
        lines.append(f'<span class="inherited">from its sources: {esc(", ".join(inherited))}'
                     '</span>')
    return "<br>".join(lines)


def _flagged_rows(rows: list[dict]) -> str:
    out = []
    for r in rows:
        if r.get("audio"):
            player = f'<audio controls preload="none" src="{r["audio"]}"></audio>'
        else:
            player = f'<span class="note">{esc(r.get("audio_note", "no audio"))}</span>'
        tags = " ".join(f'<span class="tag">{esc(t)}</span>' for t in r["tags"])
        out.append(
            f'<tr data-tags="{esc(" ".join(r["tags"]))}"><td class="id">{esc(r["id"])}'
            f'<div class="note">{esc(r["where"])} · {r["duration"]:.2f} s'
            f'{" · " + esc(r["batch"]) if r["batch"] else ""}'
            f'{" · " + esc(r["speaker"]) if r["speaker"] else ""}</div></td>'
            f'<td>{tags}</td><td class="label">{esc(r["text"]) or "<i>(empty)</i>"}'
            f'{"<div class=hyp>hyp: " + esc(r["hyp"]) + "</div>" if r["hyp"] else ""}'
            f'{"<div class=hyp>text_b: " + esc(r["text_b"]) + "</div>" if r.get("text_b") else ""}'
            f'</td><td class="values">{_values(r["values"], r.get("inherited", []))}</td>'
            f'<td>{player}</td></tr>')
    return "".join(out)


def render(report: dict, rows: list[dict], title: str, source: str) -> str:
    """The page. ``rows`` are the flagged records as curate.qc.report.example() gives them, with
    ``audio`` (a data URI) or ``audio_note`` (why there is none)."""
    template = Template(resources.files("curate").joinpath("templates", "qc_report.html")
                        .read_text(encoding="utf-8"))
    tag_names = sorted({t for r in rows for t in r["tags"]})
    options = "".join(f'<option value="{esc(t)}">{esc(t)}</option>' for t in tag_names)
    where = ", ".join(f"{n} {w}" for w, n in report["where"].items())
    alerts = ""
    if report["leaks"]:
        alerts = (f'<p class="alert">{len(report["leaks"])} record(s) in manifest.jsonl hold '
                  f'personal data: {esc(", ".join(report["leaks"][:10]))}. Run the sensitive '
                  f'stage before training on this run.</p>')
    long = report["long_without_timestamps"]
    if long:
        alerts += (f'<p class="alert" id="long-without-timestamps">{len(long)} labelled '
                   'recording(s) over the window had no sentence timestamps and were rejected '
                   f'(long_without_timestamps): {esc(", ".join(long))}; {esc(KEEP_LONG)}.</p>')
    return template.substitute(
        title=esc(title), source=esc(source), records=report["records"],
        hours=f'{report["hours"]:.3f}', flagged=report["flagged"],
        flagged_share=f'{report["flagged"] / report["records"]:.1%}' if report["records"] else "–",
        sensitive=report["sensitive"], where=esc(where), alerts=alerts,
        tags_table=_tags_table(report), hist=duration_histogram(report["durations"]),
        scatter=rate_scatter(report["rates"], report["band"]),
        batch_bars=batch_bars(report["batches"]),
        batch_table=_group_table(report["batches"], "batch"),
        speaker_table=_group_table(report["speakers"], "speaker"),
        tag_options=options, flagged_rows=_flagged_rows(rows), shown=len(rows))
