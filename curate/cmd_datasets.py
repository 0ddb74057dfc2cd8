"""``curate datasets``: name data sources once (add, list, show, remove), use the name anywhere."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

datasets_app = typer.Typer(
    name="datasets", no_args_is_help=True, rich_markup_mode="rich",
    help="Register data sources under a name, inspect them, remove them. Names live in "
         "curate-datasets.json in the working directory ($CURATE_WORKSPACE overrides); the "
         "built-in dataset 'demo' needs no registration.\n\nExample: curate datasets add w5 "
         "data/wenet_5h --hyp data/base1.tsv")

# Duration histogram bins (seconds): short clips under 1 s and recordings over the 30 s Whisper
# window are the ones the curation stages act on.
BINS = ((0, 1), (1, 2), (2, 5), (5, 10), (10, 20), (20, 30), (30, None))


class Unlabelled(str, Enum):
    skip = "skip"
    keep = "keep"


class SourceFormat(str, Enum):
    auto = "auto"
    kaldi = "kaldi"
    wenet = "wenet"
    tsv = "tsv"
    nemo = "nemo"


@datasets_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name to register, e.g. wenet_5h.")],
    path: Annotated[Path, typer.Argument(help="Kaldi/WeNet data dir, WeNet data.list, NeMo "
                                              "manifest, or a folder of audio with a "
                                              "name<TAB>text file.")],
    format: Annotated[SourceFormat, typer.Option(
        "--format", "-f", help="Source layout; 'auto' detects it and stops when it is "
                               "ambiguous.")] = SourceFormat.auto,
    hyp: Annotated[Optional[Path], typer.Option(
        help="Base1 (small-model) hypotheses, name<TAB>text, attached as the hyp field.")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a dataset already registered under "
                                               "NAME.")] = False,
    unlabelled: Annotated[Optional[Unlabelled], typer.Option(
        help="--format tsv: audio files the label file does not name are skipped (the default; "
             "each is listed) or kept with an empty label. Counted either way.")] = None,
) -> None:
    """Import a data source and register it under NAME.

    Audio length, rate and channels come from the file headers. Bad entries (missing or
    unreadable audio, undecodable or malformed lines, duplicate ids...) are set aside and listed
    with file and line; the exit status is non-zero only when no usable record remains.

    Example: curate datasets add w5 data/wenet_5h --format kaldi --hyp data/base1.tsv
    """
    from rich.console import Console

    from manifests.importers import SourceError, resolve_format

    from .console import escape, relative
    from .engine.progress import records_progress
    from .registry import Dataset, RegistryError, Workspace, check_name, import_dataset

    out, err = Console(), Console(stderr=True)
    try:
        check_name(name)
        ws = Workspace.current()
        if name in ws.load() and not replace:
            raise RegistryError(f"dataset '{name}' is already registered in {ws.path}; pass "
                                "--replace to import it again from PATH")
        if hyp is not None and not hyp.is_file():
            raise RegistryError(f"hyp file {hyp} not found")
        fmt = resolve_format(path, format.value)
        if unlabelled is not None and fmt != "tsv":
            raise RegistryError(f"--unlabelled applies to a folder of audio (--format tsv), "
                                f"not to {fmt}")
    except (RegistryError, SourceError) as e:
        err.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2)
    dataset = Dataset(name, path.resolve(), fmt, hyp.resolve() if hyp else None,
                      (unlabelled or Unlabelled.skip).value if fmt == "tsv" else None)
    try:
        with records_progress(out, "importing") as on_record:
            report = import_dataset(ws, dataset, on_record)
    except (SourceError, OSError) as e:
        err.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2)
    _print_import(out, report, ws)
    if not report.records:
        err.print(f"[red]error:[/] no usable record in {escape(str(path))}; nothing was "
                  "registered")
        raise typer.Exit(1)
    datasets = ws.load()
    datasets[name] = dataset
    ws.save(datasets)
    out.print(f"Registered [bold]{escape(name)}[/] in {escape(relative(ws.path))}. "
              f"Try: curate datasets show {escape(name)}")


@datasets_app.command("list")
def list_() -> None:
    """List the registered datasets (and the built-in demo) with their size.

    Example: curate datasets list
    """
    from rich.console import Console

    from manifests.importers import SourceError

    from .console import Table, escape, relative
    from .registry import DEMO, RegistryError, Workspace, cached_summary, demo_manifest

    out = Console()
    try:
        ws = Workspace.current()
        datasets = ws.load()
    except RegistryError as e:
        Console(stderr=True).print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2)
    table = Table(title=f"Datasets ({escape(relative(ws.path))})")
    for col in ("name", "format", "source", "hyp"):
        table.add_column(col)
    for col in ("records", "hours", "set aside"):
        table.add_number_column(col)
    try:
        demo = _stats(demo_manifest())
        table.add_row(DEMO, "built-in", "bundled demo corpus", "yes", str(demo.records),
                      f"{demo.seconds / 3600:.3f}", "0")
    except RegistryError:
        table.add_row(DEMO, "built-in", "missing from this installation", "", "", "", "")
    stale = False
    for name, d in sorted(datasets.items()):
        try:
            summary = cached_summary(ws, d)
        except SourceError:
            summary = None
        stale |= summary is None
        cells = ((str(summary["records"]), f"{summary['hours']:.3f}", str(summary["set_aside"]))
                 if summary else ("—", "—", "—"))
        source = relative(d.source) + ("" if d.source.exists() else " (missing)")
        table.add_row(escape(name), d.format, escape(source),
                      escape(relative(d.hyp)) if d.hyp else "", *cells)
    out.print(table)
    if stale:
        out.print("—: not imported yet, or the source changed; it is imported on next use.")


@datasets_app.command("show")
def show(name: Annotated[str, typer.Argument(
        help="Dataset name, 'demo', a manifest .jsonl or a run directory.")]) -> None:
    """Show a dataset: records, hours, duration histogram, sample rates and channels, the share
    labelled and the share with a Base1 hypothesis.

    Example: curate datasets show demo
    """
    from rich.console import Console

    from .console import escape, print_problems, relative
    from .registry import RegistryError, Workspace, resolve_manifest

    out = Console()
    try:
        manifest = resolve_manifest(name)
        registered = Workspace.current().load().get(name)
    except RegistryError as e:
        Console(stderr=True).print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2)
    stats = _stats(manifest)
    header = f"[bold]{escape(name)}[/]  {escape(relative(manifest))}"
    if registered:
        header += (f"\nsource {escape(relative(registered.source))} ({registered.format})"
                   + (f", hyp {escape(relative(registered.hyp))}" if registered.hyp else ""))
    out.print(header)
    _print_stats(out, stats)
    if len(stats.problems):
        print_problems(out, stats.problems, f"{manifest} has lines that cannot be read")


@datasets_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Registered dataset name.")]) -> None:
    """Unregister a dataset and delete its imported manifest (the source files are untouched).

    Example: curate datasets remove w5
    """
    from rich.console import Console

    from .console import escape, relative
    from .registry import DEMO, RegistryError, Workspace

    try:
        if name == DEMO:
            raise RegistryError("'demo' is built in and cannot be removed")
        ws = Workspace.current()
        ws.remove(name)
    except RegistryError as e:
        Console(stderr=True).print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2)
    Console().print(f"Removed [bold]{escape(name)}[/] from {escape(relative(ws.path))}; "
                    "source files untouched.")


# --- shared output helpers (used by cmd_export too) ---

def _print_import(console, report, ws) -> None:
    from .console import Table, escape, print_problems, relative

    d = report.dataset
    table = Table(title=f"Import of {escape(d.name)} ({d.format}) from "
                        f"{escape(relative(d.source))}", show_header=False)
    table.add_column(style="bold")
    table.add_number_column()
    table.add_row("records imported", str(report.records))
    table.add_row("hours", f"{report.seconds / 3600:.3f}")
    table.add_row("labelled", _share(report.labelled, report.records))
    if d.hyp:
        table.add_row("with hyp", _share(report.with_hyp, report.records))
    if d.unlabelled is not None:
        n = report.unlabelled_audio
        table.add_row("unlabelled audio", f"{n} imported with empty labels"
                      if d.unlabelled == "keep" else
                      f"{n} not imported (--unlabelled keep imports them)")
    table.add_row("set aside", str(len(report.problems)))
    console.print(table)
    if report.problems:
        print_problems(console, report.problems, "Set aside",
                       ws.cache(d.name) / "problems.txt" if report.records else None)


class _Stats:
    def __init__(self) -> None:
        from collections import Counter

        from manifests import Problems
        self.records = 0
        self.seconds = 0.0
        self.shortest = float("inf")
        self.longest = 0.0
        self.bins = [[0, 0.0] for _ in BINS]
        self.rates: Counter = Counter()
        self.channels: Counter = Counter()
        self.speakers: set[str] = set()
        self.labelled = 0
        self.with_hyp = 0
        self.with_segments = 0
        self.problems = Problems()


def _stats(manifest: Path) -> _Stats:
    """One streaming pass over a manifest: constant memory apart from the speaker set."""
    from manifests import read_manifest

    s = _Stats()
    for r in read_manifest(manifest, s.problems):
        s.records += 1
        s.seconds += r.duration
        s.shortest = min(s.shortest, r.duration)
        s.longest = max(s.longest, r.duration)
        for i, (lo, hi) in enumerate(BINS):
            if r.duration >= lo and (hi is None or r.duration < hi):
                s.bins[i][0] += 1
                s.bins[i][1] += r.duration
                break
        s.rates[r.sample_rate] += 1
        s.channels[r.channels] += 1
        if r.speaker is not None:
            s.speakers.add(r.speaker)
        s.labelled += r.labelled
        s.with_hyp += r.hyp is not None
        s.with_segments += r.segments is not None
    return s


def _print_stats(console, s: _Stats) -> None:
    from .console import Table

    summary = Table(show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_number_column()
    summary.add_row("records", str(s.records))
    summary.add_row("hours", f"{s.seconds / 3600:.3f}")
    if s.records:
        summary.add_row("duration min / mean / max",
                        f"{s.shortest:.2f} / {s.seconds / s.records:.2f} / {s.longest:.2f} s")
    summary.add_row("labelled", _share(s.labelled, s.records))
    summary.add_row("with hyp", _share(s.with_hyp, s.records))
    summary.add_row("with sentence timestamps", _share(s.with_segments, s.records))
    summary.add_row("speakers", str(len(s.speakers)) if s.speakers else "unknown")
    console.print(summary)

    hist = Table(title="Duration histogram")
    hist.add_column("duration")
    hist.add_number_column("records")
    hist.add_number_column("hours")
    hist.add_column("")
    peak = max((n for n, _ in s.bins), default=0) or 1
    for (lo, hi), (n, secs) in zip(BINS, s.bins):
        label = f"{lo}–{hi} s" if hi is not None else f"≥ {lo} s"
        hist.add_row(label, str(n), f"{secs / 3600:.3f}", "[cyan]" + "█" * round(30 * n / peak))
    console.print(hist)

    for title, counter, name in (("Sample rates", s.rates, lambda v: f"{v} Hz"),
                                 ("Channels", s.channels, _channels)):
        table = Table(title=title)
        table.add_column(title.lower().rstrip("s"))
        table.add_number_column("records")
        for value, n in sorted(counter.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            table.add_row("unknown" if value is None else name(value), _share(n, s.records))
        console.print(table)


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def _share(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else "0"
