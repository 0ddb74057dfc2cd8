"""``curate export``: write a dataset or run manifest in another toolkit's format."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class ExportFormat(str, Enum):
    nemo = "nemo"
    wenet = "wenet"
    kaldi = "kaldi"
    lhotse = "lhotse"
    hf = "hf"


def export(
    target: Annotated[str, typer.Argument(help="Dataset name, 'demo', a manifest .jsonl or a "
                                               "run directory.")],
    format: Annotated[ExportFormat, typer.Option(
        "--format", "-f", help="nemo: JSONL manifest; wenet: data.list; kaldi: data dir; "
                               "lhotse: cuts JSONL (.gz compresses); hf: datasets.Dataset "
                               "folder (save_to_disk) with an Audio column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (nemo, wenet, lhotse) or "
                                                          "folder (kaldi, hf).")],
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Export a dataset, the demo or a run's manifest to NeMo, WeNet, Kaldi, Lhotse or HF datasets.

    Records whose audio is missing or unreadable are set aside and listed. The output is written
    atomically: an interrupted export leaves no partial file. Records that are slices of longer
    files stay slices (offset/start/end or Kaldi segments; Lhotse cuts); the hf format, which
    embeds audio, stores each slice's samples.

    Example: curate export demo --format lhotse --out demo_cuts.jsonl.gz
    """
    from rich.console import Console
    from rich.markup import escape as _escape

    from manifests import Problems, read_manifest
    from manifests.exporters import NothingToExport
    from manifests.exporters import export as write_export
    from manifests.exporters.hf import MissingDependency

    from .cmd_datasets import print_problems
    from .progress import records_progress
    from .registry import RegistryError, resolve_manifest

    console, err = Console(), Console(stderr=True)
    try:
        manifest = resolve_manifest(target)
        if out.exists() and not force:
            raise RegistryError(f"{out} exists; pass --force to replace it")
    except RegistryError as e:
        err.print(f"[red]error:[/] {_escape(str(e))}")
        raise typer.Exit(2)
    problems = Problems()

    def tapped(records, on_record):
        for r in records:
            on_record(r)
            yield r

    nothing = None
    try:
        with records_progress(console, "exporting") as on_record:
            count = write_export(tapped(read_manifest(manifest, problems), on_record),
                                 format.value, out, problems)
    except MissingDependency as e:
        err.print(f"[red]error:[/] {_escape(str(e))}")
        raise typer.Exit(2)
    except NothingToExport as e:
        nothing = e
    if len(problems):
        print_problems(console, problems, "Set aside")
    if nothing is not None:
        err.print(f"[red]error:[/] {_escape(str(nothing))}")
        raise typer.Exit(1)
    console.print(f"Exported {count} records to {_escape(str(out))} ({format.value}); "
                  f"{len(problems)} set aside.")
