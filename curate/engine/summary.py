"""The rich summary printed at the end of ``curate run``."""
from __future__ import annotations

from pathlib import Path

from ..checks.pii import redact_text
from ..console import Table, escape

LONG_WITHOUT_TIMESTAMPS = "long_without_timestamps"  # chunk30's reason
IDS_SHOWN = 10
# What would keep such a recording, as both `curate run` and `curate qc` say it.
KEEP_LONG = ("to keep them, give them sentence timestamps (a Kaldi `segments` file, or "
             "`segments` in the manifest) and chunk30 cuts them at sentence boundaries, or "
             "let a local Qwen3-ASR forced aligner time their labels: "
             "--set chunk30.align=FOLDER")


def long_without_timestamps(rejected: Path) -> list[str]:
    """Masked ids of the labelled recordings chunk30 rejected for want of timestamps."""
    from manifests import Problems, read_manifest

    if not rejected.is_file():
        return []
    return [redact_text(r.id) for r in read_manifest(rejected, Problems())
            if r.extra.get("reason") == LONG_WITHOUT_TIMESTAMPS]


def print_long_without_timestamps(console, ids: list[str]) -> None:
    if not ids:
        return
    shown = ", ".join(ids[:IDS_SHOWN]) + (f", … ({len(ids) - IDS_SHOWN} more)"
                                          if len(ids) > IDS_SHOWN else "")
    console.print(f"[yellow]{len(ids)} labelled recording(s) over the window had no sentence "
                  f"timestamps and were rejected ({LONG_WITHOUT_TIMESTAMPS}):[/] "
                  f"{escape(shown)}; {escape(KEEP_LONG)}")


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
    if any(LONG_WITHOUT_TIMESTAMPS in s["reasons"] for s in info["per_stage"].values()):
        print_long_without_timestamps(console, long_without_timestamps(
            Path(out_dir) / "rejected.jsonl"))
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
