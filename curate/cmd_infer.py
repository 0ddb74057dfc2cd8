"""``curate infer``: transcribe or correct with a checkpoint of any family into name<TAB>text."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def infer(
    model: Annotated[str, typer.Option(
        help="Checkpoint folder: one written by curate train (its prompts are reused), a LoRA "
             "adapter folder, or a local Qwen2-Audio, Qwen2.5-Omni or Qwen3-ASR folder (the "
             "family is read from its config.json).")],
    data: Annotated[list[str], typer.Option(
        help="Run directory or manifest .jsonl (eval_only.jsonl too), repeatable. Records over "
             "the encoder window or under 0.1 s are set aside and counted.")],
    out: Annotated[Path, typer.Option(help="Output file, name<TAB>text (feeds curate cer).")],
    task: Annotated[str, typer.Option(help="asr, or correct (audio + Base1 hypothesis).")] = "asr",
    hyp: Annotated[Optional[Path], typer.Option(
        help="name<TAB>text file of Base1 hypotheses for --task correct (default: the records' "
             "hyp field).", exists=True, dir_okay=False)] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per generate call.")] = 8,
    tokens_per_second: Annotated[float, typer.Option(
        help="New-token budget per second of audio (plus 8).")] = 8.0,
    prompts: Annotated[Optional[Path], typer.Option(
        help="JSON file overriding prompts per task.", exists=True, dir_okay=False)] = None,
    prompt_style: Annotated[str, typer.Option(help="auto, base or instruct.")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace a finished OUT.")] = False,
) -> None:
    """Batched greedy decoding with left padding; resumes an interrupted run.

    Example: curate infer --model ckpt/sft1 --data runs/w5/RUN/eval_only.jsonl --task correct
    --out base2.tsv

    Results are appended to OUT.partial as they come; rerunning the same command after an
    interruption skips what is there. The finished OUT is written atomically in input order.
    """
    from .console import escape, make_console

    console = make_console(stderr=True)
    if task not in ("asr", "correct"):
        console.print(f"[red]error:[/] --task must be asr or correct, got {escape(repr(task))}")
        raise typer.Exit(2)
    if out.exists() and not overwrite:
        console.print(f"[red]error:[/] {escape(out)} exists (a finished run); pass --overwrite "
                      "to redo it")
        raise typer.Exit(2)

    import dataclasses
    from collections import Counter

    import torch
    import transformers

    from manifests import Problems
    from manifests.textfile import read_name_text
    from train_adapter import data as datamod
    from train_adapter import infer as infermod
    from train_adapter import model as modelmod
    from train_adapter import prompts as promptmod

    from .console import Table
    from .engine.progress import hours_progress

    transformers.utils.logging.disable_progress_bar()
    problems = Problems()
    set_aside: Counter = Counter()
    try:
        # checked first: an unusable run directory is refused before a model is loaded
        sources = [(spec, file) for spec in data
                   for file in datamod.eval_sources(datamod.parse_data_spec(spec)[0])]
        processor = modelmod.load_processor(model)
        window = processor.window_seconds
        # with --hyp the hypotheses come from the file, so records are read as for asr first
        rules = datamod.Rules(task="asr" if hyp else task,
                              max_seconds=window, allow_sensitive=True,
                              training=False, need_label=False)
        examples, seen = [], set()
        for spec, file in sources:
            found, report = datamod.read_source(file, rules, problems)
            set_aside.update(report.set_aside)
            for ex in found:
                if ex.id in seen:
                    set_aside["duplicate_id"] += 1
                    problems.add(spec, "duplicate id (first occurrence kept)", id=ex.id)
                    continue
                seen.add(ex.id)
                examples.append(ex)
        if hyp:
            hyps = read_name_text(hyp, problems)
            set_aside["no_hyp"] += sum(ex.id not in hyps for ex in examples)
            examples = [dataclasses.replace(ex, task="correct", hyp=hyps[ex.id])
                        for ex in examples if ex.id in hyps]
        prompt_set = promptmod.load(model, prompt_style, str(prompts) if prompts else None,
                                    family=processor.family)
    except (datamod.DataError, modelmod.ModelError, promptmod.PromptError) as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)
    for p in list(problems)[:10]:
        console.print(f"[yellow]problem:[/] {escape(p)}")
    if not examples:
        console.print("[red]error:[/] nothing to infer (see the set-aside counts above)")
        raise typer.Exit(2)

    cuda = torch.cuda.is_available()
    net, processor = modelmod.load(model, dtype=torch.bfloat16 if cuda else None,
                                   processor=processor)
    net.to("cuda" if cuda else "cpu")
    todo_seconds = sum(ex.duration for ex in infermod.pending(examples, out))
    with hours_progress(console, todo_seconds, f"infer {task}") as advance:
        stats = infermod.transcribe(net, processor, prompt_set, examples, out,
                                    batch_size=batch_size, tokens_per_second=tokens_per_second,
                                    on_batch=advance)
    sidecar = _write_sidecar(out, model, processor.family.title, task, prompt_set, data, hyp,
                             prompts,
                             {"strategy": "greedy", "num_beams": 1, "batch_size": batch_size,
                              "tokens_per_second": tokens_per_second,
                              "max_new_tokens": f"ceil(seconds x {tokens_per_second:g}) + 8",
                              "repetition_guard": {"max_ngram": infermod.LOOP_MAX_NGRAM,
                                                   "min_tokens": infermod.LOOP_MIN_TOKENS,
                                                   "min_repeats": infermod.LOOP_MIN_REPEATS},
                              "dtype": str(net.dtype), "device": "cuda" if cuda else "cpu"},
                             dict(set_aside))

    table = Table(title=f"curate infer → {escape(out)}", show_header=False)
    table.add_column("what")
    table.add_number_column("value")
    table.add_row("utterances written", str(stats.written))
    if stats.resumed:
        table.add_row("resumed from OUT.partial", str(stats.resumed))
    for reason, n in set_aside.most_common():
        table.add_row(escape(f"set aside: {datamod.REASONS.get(reason, reason)}"), str(n))
    table.add_row("audio decoded", f"{stats.audio_seconds / 3600:.4f} h")
    table.add_row("time", f"{stats.wall:.1f} s "
                          f"({stats.audio_seconds / 3600 / max(stats.wall, 1e-9):.4f} audio h/s)")
    table.add_row("prompts", escape(f"{prompt_set.style} ({prompt_set.why})"))
    console.print(table)
    if set_aside:
        console.print(f"[yellow]{sum(set_aside.values())} records set aside have no line in "
                      f"{escape(out)}[/]")
    console.print(f"provenance: {escape(sidecar)}")
    typer.echo(str(out))


def _write_sidecar(out: Path, model: str, family: str, task: str, prompt_set, data: list[str],
                   hyp: Path | None, prompts: Path | None, decoding: dict,
                   set_aside: dict) -> Path:
    """OUT.json beside OUT: where these hypotheses came from (read by curate cer --board)."""
    import transformers

    from train_adapter.data import parse_data_spec

    from .cer.provenance import checkpoint_info, input_fingerprints, write_sidecar
    from .engine.lifecycle import versions

    model_dir = Path(model).resolve()
    return write_sidecar(out, {
        "model": {"path": str(model_dir), "family": family, **checkpoint_info(model_dir)},
        "task": task, "prompt_style": prompt_set.style,
        "prompts_file": str(prompts) if prompts else None,
        "decoding": decoding,
        "data": input_fingerprints([parse_data_spec(spec)[0] for spec in data]),
        "hyp_input": input_fingerprints([hyp])[0] if hyp else None,
        "set_aside": set_aside,
        "code": {**versions(), "transformers": transformers.__version__}})
