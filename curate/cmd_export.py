"""``curate export``: write a dataset or run manifest in another toolkit's format."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class ExportFormat(str, Enum):
    nemo = "nemo"
    wenet = "wenet"
    kaldi = "kaldi"
    lhotse = "lhotse"
    hf = "hf"


def export(
    target: Annotated[str, typer.Argument(help="Dataset name, 'demo', a manifest .jsonl or a "
                                               "run directory (its manifest.jsonl).")],
    format: Annotated[ExportFormat, typer.Option(
        "--format", "-f", help="nemo: JSONL manifest; wenet: data.list; kaldi: data dir; "
                               "lhotse: cuts JSONL (.gz compresses); hf: datasets.Dataset "
                               "folder (save_to_disk) with an Audio column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (nemo, wenet, lhotse) or "
                                                          "folder (kaldi, hf).")],
    # The default is manifests.audio.TARGET_SR, written out here: command modules import no
    # numpy/soundfile at module level (tests/test_one_definition.py holds the two equal). The
    # backslash keeps rich from taking [default: …] for markup and dropping it.
    sample_rate: Annotated[Optional[int], typer.Option(
        "--sample-rate", min=4000, max=192000,
        help="kaldi, hf: the one rate all audio is written at; files at another rate are "
             "resampled. \\[default: 16000]")] = None,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Export a dataset, the demo or a run's manifest to NeMo, WeNet, Kaldi, Lhotse or HF datasets.

    Records whose audio is missing or unreadable, or that the format cannot hold (a line break in
    a Kaldi path, whitespace in a Kaldi id), are set aside and listed. The output is written
    atomically: an interrupted or failed export leaves no partial file. Records that are slices
    of longer files stay slices (offset/start/end or Kaldi segments; Lhotse cuts); the hf format,
    which embeds audio, stores each slice's samples.

    Sample rates: kaldi and hf write all audio at one rate (--sample-rate, 16 kHz by default),
    resampling files at another rate (kaldi writes those as WAV in OUT/audio/). lhotse records
    each file's own rate; nemo and wenet point at the files as they are, and their loaders
    resample.

    A run directory exports its manifest.jsonl only. Its eval_only.jsonl (records with personal
    data) is never included; export it by naming it: curate export RUN/eval_only.jsonl ...

    Example: curate export demo --format lhotse --out demo_cuts.jsonl.gz
    """
    from manifests import Problems, read_manifest
    from manifests.audio import TARGET_SR
    from manifests.exporters import ONE_RATE, NothingToExport
    from manifests.exporters import export as write_export
    from manifests.exporters.hf import MissingDependency

    from .console import escape, make_console, os_error_line, print_problems
    from .engine import lifecycle
    from .engine.progress import records_progress
    from .registry import RegistryError, resolve_manifest

    console, err = make_console(), make_console(stderr=True)

    def fail(message: str, code: int):
        err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code)

    if sample_rate is not None and format.value not in ONE_RATE:
        fail(f"--sample-rate applies to {' and '.join(ONE_RATE)}; {format.value} points at the "
             f"audio files as they are", 2)
    rate = sample_rate or TARGET_SR
    try:
        manifest = resolve_manifest(target)
    except RegistryError as e:
        fail(str(e), 2)
    if out.exists() and not force:
        fail(f"{out} exists; pass --force to replace it", 2)
    if out.exists() and not (out.is_file() or out.is_dir()):
        fail(f"{out} is not a regular file or folder; name a file or folder to write", 2)
    if out.is_file() and out.resolve() == manifest.resolve():
        fail(f"--out {out} is the input manifest; choose another --out", 2)
    if not out.is_file():
        try:  # replacing a folder must never delete the input or the audio it points at
            lifecycle.check_out(out, manifest)
            if out.exists():
                lifecycle.check_audio_outside(out, lifecycle.audio_folders(manifest))
        except lifecycle.RunDirError as e:
            fail(str(e), 2)
    above = next(p for p in out.parents if p.exists())
    if not above.is_dir():
        fail(f"cannot write {out}: {above} is not a folder", 1)
    problems = Problems()

    def tapped(records, on_record):
        for r in records:
            on_record(r)
            yield r

    nothing = None
    try:
        with records_progress(console, "exporting") as on_record:
            count = write_export(tapped(read_manifest(manifest, problems), on_record),
                                 format.value, out, problems, sample_rate=rate)
    except MissingDependency as e:
        fail(str(e), 2)
    except NothingToExport as e:
        nothing = e
    except OSError as e:   # unwritable place, full disk: the atomic writers left nothing behind
        if e.filename is None:   # a write to an open file names none: say which output failed
            e.filename = str(out)
        fail(os_error_line(e), 1)
    if len(problems):
        print_problems(console, problems, "Set aside")
    if nothing is not None:
        fail(str(nothing), 1)
    rate_note = f", {rate} Hz" if format.value in ONE_RATE else ""
    console.print(f"Exported {count} records to {escape(out)} ({format.value}{rate_note}); "
                  f"{len(problems)} set aside.", highlight=False)
