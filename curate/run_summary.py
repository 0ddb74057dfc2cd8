"""The rich summary printed at the end of ``curate run``."""
from __future__ import annotations

from .console import Table, escape


def print_run_summary(console, info: dict, out_dir) -> None:
    table = Table(title="stages", title_justify="left")
    table.add_column("stage")
    for col in ("records in", "out", "dropped", "hours in", "out", "dropped", "s"):
        table.add_number_column(col)
    dropped = []
    for key, s in info["per_stage"].items():
        stage = key.split(":", 1)[-1]
        table.add_row(escape(stage), str(s["records_in"]), str(s["records_out"]),
                      str(s["records_dropped"]), f"{s['hours_in']:.3f}", f"{s['hours_out']:.3f}",
                      f"{s['hours_dropped']:.3f}", f"{s['seconds']:.1f}")
        dropped += [f"{stage} {reason} {n}" for reason, n in s["reasons"].items()]
    console.print(table)
    # Reasons go below the table: as a column, names like long_without_timestamps squeeze it
    # past 80 characters.
    if dropped:
        console.print("dropped: " + escape(", ".join(dropped)))
    acc = info["accounting"]
    rec, hrs = acc["records"], acc["hours"]
    console.print(f"records {acc['input_records']} in = {rec['kept']} kept + "
                  f"{rec['eval_only']} eval_only + {rec['rejected']} rejected")
    console.print(f"hours {acc['input_hours']:.3f} in = {hrs['kept']:.3f} kept + "
                  f"{hrs['eval_only']:.3f} eval_only + {hrs['rejected']:.3f} rejected")
    rows = acc["rows"]
    console.print(f"written: manifest.jsonl {rows['manifest']} ({acc['row_hours']['manifest']:.3f} h), "
                  f"eval_only.jsonl {rows['eval_only']}, rejected.jsonl {rows['rejected']}")
    if info.get("input_problems"):
        console.print(f"[yellow]{len(info['input_problems'])} unreadable input line(s):[/]")
        for p in info["input_problems"][:20]:
            console.print(f"  {escape(p)}")
    shards = info.get("shards")
    if shards and shards["reused"]:
        console.print(f"resumed: {shards['reused']} of {shards['total']} shards reused from the "
                      f"interrupted run, {shards['computed']} computed")
    console.print(f"[green]run directory:[/] {escape(out_dir)}  ({info['wall_seconds']:.1f} s)")
