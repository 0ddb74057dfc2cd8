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
    force: Annotated[bool, typer.Option(
        help="Redo a run from scratch: one that is complete, interrupted (its finished shards are "
             "not reused), or a complete run of another job in --out.")] = False,
    engine: Annotated[str, typer.Option(
        help="local (worker processes on this machine) or ray (one Ray task per shard; joins "
             "the cluster at RAY_ADDRESS, else starts a single-node Ray). The output is the "
             "same bytes either way.")] = "local",
    shard_hours: Annotated[float, typer.Option(
        help="Input audio per shard, the unit of parallel work and of resuming (merge30's windows "
             "never span two shards; with merge30.group_by a shard is cut only where the field's "
             "value changes, so a group is never split).")] = 0.5,
    no_sensitive: Annotated[bool, typer.Option(
        "--no-sensitive", help="Run without the personal-data guard. A pipeline that names no "
                               "sensitive stage gets one (phone numbers, IDs, plates, cards, "
                               "addresses go to eval_only.jsonl, never to manifest.jsonl); "
                               "this flag leaves it out, and whatever the texts hold is kept "
                               "for training.")] = False,
) -> None:
    """Run curation stages over a dataset into a run directory.

    Example: curate run demo --plugins vad,short,chunk30,merge30,noise --set noise.snr=5:15

    Personal data first: the sensitive stage runs in every pipeline that does not name it
    (--no-sensitive turns that off). The run directory holds manifest.jsonl (kept),
    eval_only.jsonl (sensitive),
    rejected.jsonl (with reason and stage), audio/ (audio the run changed) and run.json.
    A run interrupted at any point leaves no run.json; rerunning the same command resumes it,
    reusing every finished shard, with the same output bytes. Rerunning a complete run says so; a different job in a complete --out is an error
    naming what differs. One run at a time per folder.
    """
    from manifests.rundir import sha256_of

    from . import __version__
    from .console import escape, make_console
    from .engine import discovery, lifecycle
    from .engine.runner import run_manifest, warn_stage_faults
    from .engine.summary import print_run_summary
    from .registry import RegistryError, resolve_manifest
    from .stage import ParamError

    console = make_console(stderr=True)
    try:
        manifest = resolve_manifest(target)
        names: list[str] = []
        settings: dict[str, dict] = {}
        options: dict = {}
        if pipeline:
            names, settings, options = discovery.read_pipeline_file(pipeline)
        if plugins:
            names = [n.strip() for n in plugins.split(",") if n.strip()]
        for stage, params in discovery.parse_sets(set_ or []).items():
            settings.setdefault(stage, {}).update(params)
        stages = discovery.build_stages(names, settings, guard=not no_sensitive)
    except (RegistryError, ParamError, lifecycle.RunDirError) as e:
        console.print(f"[red]error:[/] {escape(e)}", soft_wrap=True)
        raise typer.Exit(2)
    if no_sensitive and not any(s.text_guard for s in stages):
        console.print("[yellow]warning:[/] --no-sensitive: no stage looks for personal data; "
                      "records holding it stay in manifest.jsonl (training data)")
    seed = seed if seed is not None else int(options.get("seed", 0))
    workers = workers or os.cpu_count() or 1
    if engine not in ("local", "ray"):
        console.print(f"[red]error:[/] --engine must be local or ray, got {escape(engine)}")
        raise typer.Exit(2)
    if not shard_hours > 0:
        console.print("[red]error:[/] --shard-hours must be a positive number of hours")
        raise typer.Exit(2)
    shard_seconds = round(shard_hours * 3600.0, 3)

    fingerprint = sha256_of(manifest)  # names the exact input of a run
    # the code version too: the job a folder holds includes it, so an upgrade gets a new folder
    config = {"stages": [[s.name, s.values] for s in stages], "seed": seed,
              "shard_seconds": shard_seconds, "version": __version__}
    out_dir = out or lifecycle.default_dir(target, manifest, fingerprint, config)
    try:
        lifecycle.check_out(out_dir, manifest)
        info, _ = run_manifest(manifest, stages, out_dir, console, "curating",
                               fingerprint=fingerprint, workers=workers, seed=seed, force=force,
                               shard_seconds=shard_seconds, engine=engine)
    except (lifecycle.RunDirError, ParamError) as e:
        console.print(f"[red]error:[/] {escape(e)}", soft_wrap=True)
        raise typer.Exit(2)
    if info is None:
        console.print(f"[green]already complete:[/] {escape(out_dir)} (use --force to redo)",
                      soft_wrap=True)
    else:
        print_run_summary(console, info, out_dir)
        warn_stage_faults(console, info)
    typer.echo(str(out_dir))
