"""``curate board``: every CER result recorded with ``curate cer --board`` in one table."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def board(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The board (written by curate cer "
                                        "--board NAME).")],
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", metavar="SYSTEM", help="Paired-bootstrap p-value of every system against "
                                             "this one, per eval set.")] = None,
    evals: Annotated[Optional[list[str]], typer.Option(
        "--eval", metavar="GLOB", help="Only eval sets whose name matches (repeatable).")] = None,
    systems: Annotated[Optional[list[str]], typer.Option(
        "--system", metavar="GLOB", help="Only systems whose name matches (repeatable).")] = None,
    tsv: Annotated[Optional[Path], typer.Option(
        "--tsv", metavar="FILE", help="Also write the results as TSV, one line per result, "
                                      "for spreadsheets ('-': to stdout instead of the table).")
    ] = None,
    html: Annotated[Optional[Path], typer.Option(
        "--html", metavar="FILE", help="Also write a self-contained page: the table and a CER "
                                       "chart per eval set.")] = None,
) -> None:
    """Experiments × eval sets: CER with its 95 % interval, the best per eval set marked (★),
    p-values against a baseline (paired bootstrap with the resamples and seed the baseline was
    scored with), and where each hypothesis file came from.

    Example: curate board week48 --baseline base1 --eval 'held*' --html board.html
    """
    from rich.text import Text

    from manifests.jsonl import atomic_write_text

    from .cer import board as B
    from .cer import board_view as V
    from .cer.inputs import InputError
    from .console import make_console
    from .registry import Workspace

    console, err = make_console(), make_console(stderr=True)  # stdout may carry --tsv -
    try:
        path = B.board_path(Workspace.current().root, name)
        current = B.read(path)
    except InputError as e:
        err.print(Text.assemble(("error: ", "bold red"), str(e)))
        raise typer.Exit(2) from None
    problems = list(current.problems)
    for p in problems[:10]:
        err.print(Text.assemble(("problem: ", "yellow"), str(p), " (skipped)"), soft_wrap=True)
    if len(problems) > 10:
        err.print(Text(f"... {len(problems) - 10} more problems (lines skipped)"))
    rows = B.select(current.rows, evals, systems)
    if not rows:
        err.print(Text.assemble(
            ("error: ", "bold red"), f"{path}: no result matches the filters"))
        raise typer.Exit(1)
    names = sorted({r["system"] for r in rows})
    if baseline is not None and baseline not in names:
        err.print(Text.assemble(
            ("error: ", "bold red"), f"--baseline {baseline}: no such system on the board "
                                     f"(systems: {', '.join(names)})"))
        raise typer.Exit(2)
    g = V.grid(rows, baseline)
    to_stdout = tsv is not None and str(tsv) == "-"
    if to_stdout:
        typer.echo(V.tsv(g), nl=False)
    else:
        _print_tables(console, g, name, baseline, current.replaced)

    written = []
    if tsv is not None and not to_stdout:
        atomic_write_text(tsv, V.tsv(g))
        written.append(tsv)
    if html is not None:
        atomic_write_text(html, V.page(g, f"board {name}", str(path)))
        written.append(html)
    if written:
        (err if to_stdout else console).print(Text("Wrote " + ", ".join(map(str, written))))


def _print_tables(console, g, name: str, baseline: str | None, replaced: int) -> None:
    """The grid (★ best, p against the baseline), provenance and correction accounting."""
    from rich import box

    from .cer import board as B
    from .cer import board_view as V
    from .cer.report import pct
    from .console import Table, escape

    note = f", {replaced} replaced by a rescore" if replaced else ""
    table = Table(title=f"board {escape(name)}: {len(g.cells)} result(s){note}"
                        + (f"; p against {escape(baseline)}" if baseline else ""),
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("system")
    for col in g.columns:
        table.add_number_column(escape(col.label))
    for system in g.systems:
        cells = []
        for col in g.columns:
            lines = V.cell_lines(g, system, col)
            cells.append("—" if lines is None else
                         ("[bold green]" if system in g.best.get(col.key, ()) else "")
                         + escape("\n".join(lines))
                         + ("[/]" if system in g.best.get(col.key, ()) else ""))
        table.add_row(escape(system), *cells)
    console.print(table)

    # one row per system and checkpoint (the eval sets it was run on listed), not per result:
    # the data fingerprints, one per eval set, are in --tsv and --html
    seen: dict[tuple, list[str]] = {}
    for col in g.columns:
        for system in g.systems:
            row = g.cells.get((system, col.key))
            if row is not None:
                p = B.provenance_summary(row)
                key = (system, p["model"] or "(no sidecar)", p["recipe"], p["task"], p["prompt"],
                       p["step"])
                seen.setdefault(key, []).append(col.label)
    prov = Table(title="provenance", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("system", "model", "recipe", "task", "prompt"):
        prov.add_column(col)
    prov.add_number_column("step")
    prov.add_column("eval sets")
    for key, labels in seen.items():
        shown = ", ".join(labels) if len(labels) <= 3 else f"{len(labels)} eval sets"
        prov.add_row(*(escape(v) for v in (*key, shown)))
    console.print(prov)

    corrections = [(col, system, g.cells[system, col.key]["correction"]) for col in g.columns
                   for system in g.systems
                   if (g.cells.get((system, col.key)) or {}).get("correction")]
    if corrections:
        ct = Table(title="correction accounting", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("system", "corrects", "eval set"):
            ct.add_column(col)
        for col in ("fix rate", "break rate", "rel. CER reduction"):
            ct.add_number_column(col)
        for col, system, c in corrections:
            ct.add_row(escape(system), escape(c["corrects"]), escape(col.label),
                       pct(c["fix_rate"]), pct(c["break_rate"]),
                       pct(c["relative_cer_reduction"]))
        console.print(ct)
