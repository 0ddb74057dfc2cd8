"""The rich terminal summary of ``curate qc``: tags, batches, speakers, worst examples (masked)."""
from __future__ import annotations

from rich.markup import escape
from rich.table import Table

SPEAKERS_SHOWN = 15
TEXT_WIDTH = 40


def _short(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_WIDTH else text[:TEXT_WIDTH - 1] + "…"


def print_qc_summary(console, report: dict) -> None:
    where = ", ".join(f"{w} {n}" for w, n in report["where"].items())
    console.print(f"[bold]{report['records']}[/] records, {report['hours']:.3f} h checked "
                  f"({escape(where)}); [bold]{report['flagged']}[/] flagged, "
                  f"{report['sensitive']} with personal data (eval only)")
    if report["unchecked"]:
        console.print(f"[yellow]{report['unchecked']} record(s) could not be checked "
                      "(audio unreadable)[/]")
    if report["leaks"]:
        console.print(f"[bold red]{len(report['leaks'])} record(s) in manifest.jsonl hold personal "
                      f"data[/] ({escape(', '.join(report['leaks'][:5]))}"
                      f"{', …' if len(report['leaks']) > 5 else ''}): run the sensitive stage "
                      "before training on this run")

    tags = Table(title="tags", title_justify="left")
    for col in ("tag", "records", "share", "hours", "also rejected"):
        tags.add_column(col, justify="left" if col == "tag" else "right")
    for t in report["tags"]:
        tags.add_row(t["tag"], str(t["records"]), f"{t['share']:.1%}", f"{t['hours']:.3f}",
                     str(t["rejected"]))
    console.print(tags if report["tags"] else "no record was flagged")

    for key, label, limit in (("batches", "batch", None), ("speakers", "speaker", SPEAKERS_SHOWN)):
        groups = report[key]
        if not groups:
            continue
        table = Table(title=f"per {label}" + (f" (top {limit} by flagged share)"
                                              if limit and len(groups) > limit else ""),
                      title_justify="left")
        for col in (label, "records", "hours", "flagged", "share", "tags"):
            table.add_column(col, justify="left" if col in (label, "tags") else "right")
        for g in groups[:limit]:
            table.add_row(escape(str(g["name"])), str(g["records"]), f"{g['hours']:.3f}",
                          str(g["flagged"]), f"{g['share']:.0%}",
                          escape(", ".join(f"{t} {n}" for t, n in g["tags"].items())))
        console.print(table)

    worst = Table(title="worst examples (personal data masked)", title_justify="left")
    for col in ("tag", "record", "value", "label", "hyp"):
        # The tag and the id say what a row is: never cut them; the texts give way first.
        worst.add_column(col, no_wrap=col == "tag",
                         overflow="fold" if col == "record" else "ellipsis")
    for tag, examples in report["worst"].items():
        for ex in examples[:3]:
            value = ex.get("value")
            shown = "" if value is None else (f"{value:.3g}" if isinstance(value, float)
                                              else str(value))
            worst.add_row(tag, escape(ex["id"]), shown, escape(_short(ex["text"])) or "(empty)",
                          escape(_short(ex["hyp"])))
    if report["worst"]:
        console.print(worst)
    if report["rejected_reasons"]:
        console.print("rejected by the run: " + escape(", ".join(
            f"{r} {n}" for r, n in report["rejected_reasons"].items())))
