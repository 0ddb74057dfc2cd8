"""The rich summary printed at the end of ``curate run``."""
from __future__ import annotations

from rich.table import Table


def print_run_summary(console, info: dict, out_dir) -> None:
    table = Table(title="stages", title_justify="left")
    for col in ("stage", "records in", "out", "dropped", "hours in", "out", "dropped", "s",
                "reasons"):
        table.add_column(col, justify="left" if col in ("stage", "reasons") else "right")
    for key, s in info["per_stage"].items():
        reasons = ", ".join(f"{r} {n}" for r, n in s["reasons"].items())
        table.add_row(key.split(":", 1)[-1], str(s["records_in"]), str(s["records_out"]),
                      str(s["records_dropped"]), f"{s['hours_in']:.3f}", f"{s['hours_out']:.3f}",
                      f"{s['hours_dropped']:.3f}", f"{s['seconds']:.1f}", reasons)
    console.print(table)
    acc = info["accounting"]
    rec, hrs = acc["records"], acc["hours"]
    console.print(
        f"input records {acc['input_records']} = kept {rec['kept']} + eval_only {rec['eval_only']}"
        f" + rejected {rec['rejected']};  hours {acc['input_hours']:.3f} = {hrs['kept']:.3f} + "
        f"{hrs['eval_only']:.3f} + {hrs['rejected']:.3f}")
    rows = acc["rows"]
    console.print(f"written: manifest.jsonl {rows['manifest']} ({acc['row_hours']['manifest']:.3f} h), "
                  f"eval_only.jsonl {rows['eval_only']}, rejected.jsonl {rows['rejected']}")
    if info.get("input_problems"):
        console.print(f"[yellow]{len(info['input_problems'])} unreadable input line(s):[/]")
        for p in info["input_problems"][:20]:
            console.print(f"  {p}")
    console.print(f"[green]run directory:[/] {out_dir}  ({info['wall_seconds']:.1f} s)")
