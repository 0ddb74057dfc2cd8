"""``curate run``: the main job."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer


def run(
    target: Annotated[str, typer.Argument(help="Dataset name (see `curate datasets list`; `demo` is "
                                               "built in), a manifest .jsonl, or a run directory.")],
    plugins: Annotated[Optional[str], typer.Option(
        "--plugins", "-p", help="Comma-separated stages, in order, e.g. vad,short,chunk30,merge30,noise."
    )] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="STAGE.PARAM=VALUE, repeatable, e.g. --set noise.snr=5:15.")] = None,
    pipeline: Annotated[Optional[Path], typer.Option(
        "--pipeline", help="TOML file: plugins = [...], seed, and a [stage] table of parameters.",
        exists=True, dir_okay=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for every random draw (default 0).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: number of cores).")] = 0,
    out: Annotated[Optional[Path], typer.Option(
        help="Run directory (default: runs/NAME/<run-id>/, the id fixed by input, stages, "
             "parameters and seed).")] = None,
    force: Annotated[bool, typer.Option(help="Redo a run that is already complete.")] = False,
) -> None:
    """Run curation stages over a dataset into a run directory.

    Example: curate run demo --plugins vad,short,chunk30,merge30,noise --set noise.snr=5:15

    The run directory holds manifest.jsonl (kept), eval_only.jsonl (sensitive),
    rejected.jsonl (with reason and stage), audio/ (audio the run changed) and run.json.
    A run interrupted at any point leaves no run.json; rerunning the same command restarts it
    cleanly.
    """
    from rich.console import Console

    from . import plugin_registry, run_dir
    from .registry import RegistryError, resolve_manifest
    from .run_summary import print_run_summary
    from .stage import ParamError

    console = Console(stderr=True)
    try:
        manifest = resolve_manifest(target)
        names: list[str] = []
        settings: dict[str, dict] = {}
        options: dict = {}
        if pipeline:
            names, settings, options = plugin_registry.read_pipeline_file(pipeline)
        if plugins:
            names = [n.strip() for n in plugins.split(",") if n.strip()]
        for stage, params in plugin_registry.parse_sets(set_ or []).items():
            settings.setdefault(stage, {}).update(params)
        stages = plugin_registry.build_stages(names, settings)
    except (RegistryError, ParamError, run_dir.RunDirError) as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2)
    seed = seed if seed is not None else int(options.get("seed", 0))
    workers = workers or os.cpu_count() or 1

    fingerprint = run_dir.file_fingerprint(manifest)
    config = {"stages": [[s.name, s.values] for s in stages], "seed": seed}
    out_dir = out or run_dir.default_dir(target, manifest, fingerprint, config)
    if run_dir.is_complete(out_dir) and not force:
        console.print(f"[green]already complete:[/] {out_dir} (use --force to redo)")
        typer.echo(str(out_dir))
        return

    try:
        info, _ = run_manifest(manifest, stages, out_dir, console, "curating",
                               fingerprint=fingerprint, workers=workers, seed=seed)
    except run_dir.RunDirError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2)
    print_run_summary(console, info, out_dir)
    typer.echo(str(out_dir))


def run_manifest(manifest: Path, stages, out_dir: Path, console, label: str, *, fingerprint: str,
                 workers: int, seed: int = 0):
    """Run ``stages`` over ``manifest`` into ``out_dir`` behind an hours progress bar (``label``).
    Returns what run.json holds and the unreadable input lines (a manifests.Problems)."""
    from manifests import Problems, read_manifest

    from .pipeline import run_pipeline
    from .progress import hours_progress

    problems = Problems()

    def records():
        problems.items.clear()  # each pass re-reads the file; keep one pass's problems
        return read_manifest(manifest, problems)

    total = sum(r.duration for r in read_manifest(manifest, Problems()))
    with hours_progress(console, total, label) as advance:
        info = run_pipeline(records, stages, out_dir, seed=seed, workers=workers,
                            source=str(manifest), fingerprint=fingerprint, on_progress=advance,
                            problems=problems)
    return info, problems
