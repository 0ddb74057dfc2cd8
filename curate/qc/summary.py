"""The rich terminal summary of ``curate qc``: tags, batches, speakers, worst examples (masked)."""
from __future__ import annotations

from ..console import Table, escape
from ..engine.summary import print_long_without_timestamps

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
                      "(see \"set aside\" below)[/]")
    if report["leaks"]:
        console.print(f"[bold red]{len(report['leaks'])} record(s) in manifest.jsonl hold personal "
                      f"data[/] ({escape(', '.join(report['leaks'][:5]))}"
                      f"{', …' if len(report['leaks']) > 5 else ''}): run the sensitive stage "
                      "before training on this run")

    tags = Table(title="tags", title_justify="left")
    tags.add_column("tag")
    for col in ("records", "share", "hours", "also rejected"):
        tags.add_number_column(col)
    for t in report["tags"]:
        tags.add_row(escape(t["tag"]), str(t["records"]), f"{t['share']:.1%}", f"{t['hours']:.3f}",
                     str(t["rejected"]))
    console.print(tags if report["tags"] else "no record was flagged")

    for key, label, limit in (("batches", "batch", None), ("speakers", "speaker", SPEAKERS_SHOWN)):
        groups = report[key]
        if not groups:
            continue
        table = Table(title=f"per {label}" + (f" (top {limit} by flagged share)"
                                              if limit and len(groups) > limit else ""),
                      title_justify="left")
        table.add_column(label)
        for col in ("records", "hours", "flagged", "share"):
            table.add_number_column(col)
        table.add_column("tags")
        for g in groups[:limit]:
            table.add_row(escape(str(g["name"])), str(g["records"]), f"{g['hours']:.3f}",
                          str(g["flagged"]), f"{g['share']:.0%}",
                          escape(", ".join(f"{t} {n}" for t, n in g["tags"].items())))
        console.print(table)

    worst = Table(title="worst examples (personal data masked)", title_justify="left")
    # The tag and the id say what a row is: never cut them; the texts give way first. The value
    # is a number or, for duplicates, the id of the first copy: it folds rather than pins.
    worst.add_column("tag", no_wrap=True)
    worst.add_column("record")
    worst.add_column("value")
    for col in ("label", "hyp"):
        worst.add_column(col, overflow="ellipsis")
    for tag, examples in report["worst"].items():
        for ex in examples[:3]:
            value = ex.get("value")
            shown = "" if value is None else (f"{value:.3g}" if isinstance(value, float)
                                              else str(value))
            worst.add_row(escape(tag), escape(ex["id"]), escape(shown),
                          escape(_short(ex["text"])) or "(empty)", escape(_short(ex["hyp"])))
    if report["worst"]:
        console.print(worst)
    if report["rejected_reasons"]:
        console.print("rejected by the run: " + escape(", ".join(
            f"{r} {n}" for r, n in report["rejected_reasons"].items())))
    print_long_without_timestamps(console, report["long_without_timestamps"])


def print_check_stats(console, info: dict) -> None:
    """One line on the records of a run checked now (what the executor's run.json holds): the
    work, and per stage the records in and set aside, with why, and the time spent."""
    stages = []
    for key, st in info["per_stage"].items():
        if key == "write":
            continue  # the scratch folder's manifests: nothing the user asked for
        reasons = ", ".join(f"{r} {n}" for r, n in st["reasons"].items())
        stages.append(f"{key.split(':', 1)[-1]} {st['records_in']} in"
                      + (f", {st['records_dropped']} set aside ({reasons})"
                         if st["records_dropped"] else "") + f", {st['seconds']:.1f} s")
    shards = info["shards"]["total"]
    console.print(f"checked {info['accounting']['input_records']} record(s) the run had not "
                  f"measured ({info['accounting']['input_hours']:.3f} h) in {shards} shard(s) "
                  f"with {info['workers']} worker(s), {info['wall_seconds']:.1f} s: "
                  + escape("; ".join(stages)))
