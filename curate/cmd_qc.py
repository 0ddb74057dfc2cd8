"""``curate qc``: can the labels of a dataset or a run be trusted, and what goes back to the
annotators."""
from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Optional

import typer

STAGES = ("qc", "sensitive")
# A run's unchecked records are checked in shards of about this much audio, and at least this
# much: the qc stage measures each record alone, so the shard size changes nothing but how evenly
# the workers are kept busy (a shard of curate run's size would give most runs one shard).
SHARDS_PER_WORKER = 4
MIN_SHARD_SECONDS = 60.0


def qc(
    target: Annotated[str, typer.Argument(help="Dataset name (`demo` is built in), a manifest "
                                               ".jsonl, or a run directory.")],
    out: Annotated[Optional[Path], typer.Option(
        help="Output folder for report.html, flagged.jsonl and qc.json (default: the run "
             "directory itself; for a dataset, runs/NAME/qc-<id>/, which also holds the checked "
             "manifests).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="STAGE.PARAM=VALUE for the qc or sensitive stage, repeatable, e.g. "
                      "--set qc.snr_min=15 (see `curate plugins`).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes checking a dataset, or the "
                                              "records a run has not checked (default: number "
                                              "of cores).")] = 0,
    max_audio: Annotated[int, typer.Option(
        help="Flagged records whose audio is embedded in report.html (each adds ~60 kB per "
             "3 s).")] = 300,
    worst: Annotated[int, typer.Option(help="Worst examples listed per tag.")] = 5,
    force: Annotated[bool, typer.Option(help="Check a dataset again even if its qc run is "
                                             "complete, or replace a complete run of another "
                                             "job in --out.")] = False,
) -> None:
    """Check annotation quality: unclear spans, empty labels, odd characters, speaking rates that
    do not fit the audio, label/hyp disagreement, clipping, level, SNR, duplicates and personal
    data. Prints a summary per tag, batch and speaker, and writes report.html (plots, and the
    flagged records with their audio) and flagged.jsonl (to send back to annotation).

    Example: curate qc demo --out qc_demo

    A dataset is run through the qc and sensitive stages first (records with personal data land in
    eval_only.jsonl); a run directory is read as it is, and records it has not checked yet are
    checked now, as `curate run` would (--workers processes), without changing the run's files.
    """
    from rich.markup import escape

    from manifests.rundir import RunDirError, is_run_dir, open_run, sha256_of

    from .console import make_console
    from .engine import discovery, lifecycle
    from .qc.report import RUN_FILES
    from .registry import RegistryError, resolve_manifest
    from .stage import ParamError

    console, err = make_console(), make_console(stderr=True)
    try:
        settings = discovery.parse_sets(set_ or [])
        stray = sorted(set(settings) - set(STAGES))
        if stray:
            raise ParamError(f"curate qc runs the stages {', '.join(STAGES)}; no settings for "
                             f"{', '.join(stray)}")
        if "drop" in settings.get("qc", {}):
            raise ParamError("qc.drop moves records out of a run: use `curate run --plugins qc "
                             "--set qc.drop=...`; `curate qc` only reports")
        stages = discovery.build_stages(list(STAGES), settings)
        path = Path(target)
        # a folder of manifests is read in place; one a curate run wrote only when complete
        # and as the run wrote it
        is_run = path.is_dir() and any((path / name).is_file() for name, _ in RUN_FILES)
        if is_run_dir(path):
            open_run(path)
            is_run = True
        manifest = None if is_run else resolve_manifest(target)
    except (RegistryError, ParamError, RunDirError) as e:
        err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)

    workers = workers or os.cpu_count() or 1
    if is_run:
        source_dir, out_dir = path, out or path
    else:
        fingerprint = sha256_of(manifest)  # names the exact input of a run
        source_dir = out_dir = out or _default_out(target, manifest, fingerprint, stages)
    try:
        lifecycle.check_out(out_dir, manifest)
        with ExitStack() as hold:
            # The checks' run directory is held while it is written and read; a report-only
            # folder (a run read in place elsewhere) may be anyone's and is not.
            if not is_run or (out_dir / lifecycle.MARKER).exists():
                held = hold.enter_context(lifecycle.lock(out_dir))
                if held.note:
                    err.print(f"[yellow]note:[/] {escape(held.note)}", soft_wrap=True)
            if not is_run:
                _check_dataset(manifest, stages, source_dir, workers, force, err, fingerprint)
            _report(source_dir, out_dir, stages, target, str(manifest or source_dir), max_audio,
                    worst, workers, console, err)
    except (lifecycle.RunDirError, ParamError) as e:
        err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    typer.echo(str(out_dir))


def _report(source_dir: Path, out_dir: Path, stages, target: str, source: str, max_audio: int,
            worst: int, workers: int, console, err) -> None:
    """Read the run in ``source_dir``, check what it has not checked, and write the report."""
    from rich.markup import escape

    from manifests import Problems

    from .qc.report import load_run, masked

    problems = Problems()
    entries = load_run(source_dir, problems)
    if not entries:
        err.print(f"[red]error:[/] {escape(str(source_dir))} holds no readable record",
                  soft_wrap=True)
        raise typer.Exit(2)
    _check_unchecked(entries, stages, workers, err, problems)
    _write_outputs(entries, out_dir, target, source, max_audio, worst, console, err)
    for p in list(problems)[:20]:
        # masked like every id the report shows: a problem names the record's id and file
        err.print(f"[yellow]set aside:[/] {escape(masked(str(p)))}", soft_wrap=True)
    if len(problems) > 20:
        err.print(f"[yellow]… and {len(problems) - 20} more[/]")


def _default_out(target: str, manifest: Path, fingerprint: str, stages) -> Path:
    from . import __version__
    from .engine import lifecycle

    config = {"stages": [[s.name, s.values] for s in stages], "seed": 0, "version": __version__}
    return lifecycle.default_dir(target, manifest, fingerprint, config, prefix="qc-")


def _check_dataset(manifest: Path, stages, out_dir: Path, workers: int, force: bool, err,
                   fingerprint: str) -> None:
    """Run the qc and sensitive stages over a dataset (``fingerprint``: its manifest's) into
    ``out_dir`` (a run directory)."""
    from rich.markup import escape

    from .engine.runner import run_manifest

    info, problems = run_manifest(manifest, stages, out_dir, err, "checking",
                                  fingerprint=fingerprint, workers=workers, force=force)
    if info is None:
        err.print(f"already checked: {escape(str(out_dir))} (use --force to check again)",
                  soft_wrap=True)
        return
    for p in list(problems)[:20]:
        err.print(f"[yellow]unreadable input line:[/] {escape(str(p))}", soft_wrap=True)


def _check_unchecked(entries, stages, workers: int, err, problems) -> None:
    """Run the checks on records of a run that were not measured on their own audio (the run had
    no qc stage, or a later stage derived them: chunks, merged windows, noisy copies), through the
    executor as ``curate run`` does (its decode, corrupt and silent audio checks, ``workers``
    processes), and take their measurements into ``entries``; a record that could not be checked
    goes to ``problems``. The run's own files are left as they are: the executor writes into a
    scratch folder of its own, removed once read."""
    import copy
    from collections import deque

    from manifests import Problems, read_manifest
    from manifests.rundir import open_run

    from .checks.tags import measured
    from .engine.executor import SHARD_SECONDS
    from .engine.runner import scratch_run
    from .qc.summary import print_check_stats

    qc_stage, sensitive = stages
    for e in entries:
        # Text only: cheap, and a leak into manifest.jsonl must show. Rejected records too: one
        # dropped before the sensitive stage ran is still listed as flagged, and must be masked.
        sensitive.tag(e.record)
    data = [e for e in entries if e.where != "rejected"]
    todo = [e for e in data if not measured(e.record)]
    if not todo:
        return
    waiting: dict[str, deque] = {}  # id → its unchecked entries, in run order
    for e in todo:
        waiting.setdefault(e.record.id, deque()).append(e)
    total = sum(e.record.duration for e in todo)
    shard_seconds = min(SHARD_SECONDS,
                        max(MIN_SHARD_SECONDS, total / (SHARDS_PER_WORKER * workers)))
    # The executor gets copies: with one worker it runs in this process, and its decode and
    # rejections write into the records it is given; only what the check measured comes back.
    # The qc stage's pre-pass (the speaking-rate band) reads every data record of the run.
    with scratch_run(lambda: (copy.deepcopy(e.record) for e in todo), [qc_stage], err,
                     "checking", workers=workers, prefix="curate-qc-unchecked-",
                     prepare_records=lambda: (e.record for e in data),
                     shard_seconds=shard_seconds) as (info, folder):
        unreadable = Problems()  # the executor's own manifests: never expected to hold a bad line
        scratch = open_run(folder)
        for path in scratch.files():   # manifest and eval_only
            for rec in read_manifest(path, unreadable):
                if waiting.get(rec.id):
                    # the first of an id is the one checked; later ones are its repeats
                    _take_measurements(waiting[rec.id].popleft().record, rec)
        for rec in read_manifest(scratch.file("rejected"), unreadable):
            if not waiting.get(rec.id):
                continue
            reason, stage = rec.extra.get("reason"), rec.extra.get("stage")
            if (stage, reason) == ("input", "duplicate_id"):
                e = waiting[rec.id].pop()  # a repeat: the last of the id not yet accounted for
                note = "not checked (duplicate_id: another record of the run has this id)"
            elif stage == "decode":
                e = waiting[rec.id].popleft()
                note = f"audio not checked ({reason})"
            else:  # the check raised on it (stage_error:<Type>), with the message
                e = waiting[rec.id].popleft()
                note = f"not checked ({reason}: {rec.extra.get('error', '')})"
            problems.add(e.record.audio, note, id=e.record.id)
    for left in waiting.values():  # the executor accounts for every record: never expected
        for e in left:
            problems.add(e.record.audio, "not checked (no result came back)", id=e.record.id)
    print_check_stats(err, info)


def _take_measurements(entry_record, checked) -> None:
    """What the check wrote into ``checked`` (its copy of ``entry_record``): the tags, the
    measurements, and the duration as decoded, which the measurements name (``extra.qc.on``)."""
    entry_record.tags = list(checked.tags)
    entry_record.extra["qc"] = checked.extra["qc"]
    entry_record.duration = checked.duration


def _write_outputs(entries, out_dir: Path, target: str, source: str, max_audio: int, worst: int,
                   console, err) -> None:
    from manifests import atomic_write_text
    from manifests.audio import AudioError

    from .qc.html import audio_data_uri, render
    from .qc.report import example, flagged, mark_duplicates, summarize, write_flagged
    from .qc.summary import print_qc_summary

    mark_duplicates(entries)
    report = summarize(entries, worst)
    rows = []
    for i, e in enumerate(flagged(entries)):
        row = example(e)
        if e.sensitive:
            row["audio_note"] = "not embedded: personal data"
        elif i >= max_audio:
            row["audio_note"] = f"not embedded (--max-audio {max_audio})"
        else:
            try:
                row["audio"] = audio_data_uri(e.record.audio, e.record.offset, e.record.duration)
            except AudioError as exc:
                row["audio_note"] = f"audio unreadable: {exc.reason}"
        rows.append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "report.html",
                      render(report, rows, f"QC report: {Path(target).name}", source))
    n = write_flagged(out_dir / "flagged.jsonl", entries)
    atomic_write_text(out_dir / "qc.json", json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    print_qc_summary(console, report)
    err.print(f"[green]written:[/] {out_dir / 'report.html'}, {out_dir / 'flagged.jsonl'} "
              f"({n} records), {out_dir / 'qc.json'}")
