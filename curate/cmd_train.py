"""``curate train``: fine-tune an audio LLM (any family of train_adapter.families) on manifests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

CONFIG_FILE = "train_config.toml"   # the resolved options, written into OUT


def train(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Option(
        help="Local checkpoint folder (Qwen2-Audio base or Instruct, Qwen2.5-Omni, Qwen3-ASR: "
             "the family is read from its config.json), a folder written by curate train, or "
             "'tiny[:FAMILY][:SECONDS]' (a tiny random model built from the data's texts; "
             "FAMILY qwen2_audio (default), qwen2_5_omni or qwen3_asr; SECONDS the encoder "
             "window, default 30, 8 for fast CI runs). Nothing is ever downloaded. "
             "Required (here or in --config).")] = None,
    data: Annotated[Optional[list[str]], typer.Option(
        help="PATH[:WEIGHT], repeatable: a run directory, a manifest .jsonl, or text-only "
             "correction pairs (name<TAB>hyp<TAB>ref .tsv, or JSONL with hyp and ref), mixed "
             "by weight. Required (here or in --config).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="Output folder: checkpoints/, tensorboard/, eval/, the final model and "
             f"{CONFIG_FILE}. Required (here or in --config).")] = None,
    config: Annotated[Optional[Path], typer.Option(
        help="TOML file of options, named as the flags (max-steps = 50, data = [\"runs/a\"], "
             "eval = [...]); flags given on the command line win. The resolved options are "
             f"saved as OUT/{CONFIG_FILE}.", exists=True, dir_okay=False)] = None,
    task: Annotated[str, typer.Option(help="asr (audio → text), correct (audio + Base1 hyp → "
                                           "text) or mix (both).")] = "asr",
    stage: Annotated[str, typer.Option(help="align (encoder + projector), sft (LLM) or full.")]
    = "sft",
    lora: Annotated[Optional[str], typer.Option(
        help="LoRA on the LLM's linear layers: 'r=16,alpha=32,dropout=0.05' (any subset) or "
             "'default'.")] = None,
    lora_targets: Annotated[Optional[str], typer.Option(
        help="With --lora: the LLM's linear layers that get adapters, a comma list of names "
             "(default q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).")] = None,
    qlora: Annotated[bool, typer.Option(help="LoRA on a 4-bit LLM (CUDA and bitsandbytes "
                                             "only).")] = False,
    encoder_layers: Annotated[str, typer.Option(help="Encoder layers to train: all, or last:N "
                                                     "(plus the encoder's final LayerNorm).")]
    = "all",
    encoder_attn_only: Annotated[bool, typer.Option(help="Train only the self-attention of the "
                                                         "chosen encoder layers.")] = False,
    eval_data: Annotated[Optional[list[str]], typer.Option(
        "--eval", help="Manifest or run directory, repeatable (sensitive records allowed "
                       "here): at each evaluation the eval loss, and eval_cer: greedy generation "
                       "as curate infer does, scored as curate cer does (profile zh, mixed "
                       "units); with --task correct also fix_rate and break_rate against the "
                       "records' Base1 hyp. Hypotheses in OUT/eval/step-N.tsv.")] = None,
    prompts: Annotated[Optional[Path], typer.Option(
        help="JSON file overriding prompts per task (asr, correct, correct_text).",
        exists=True, dir_okay=False)] = None,
    prompt_style: Annotated[str, typer.Option(
        help="auto, base or instruct (auto: the prompts a curate checkpoint was trained with, "
             "else instruct when the checkpoint's chat template takes audio in chat turns).")]
    = "auto",
    max_steps: Annotated[int, typer.Option(help="Optimizer steps (overrides --epochs).")] = -1,
    epochs: Annotated[float, typer.Option(help="Passes over the mixture.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Examples per device per micro-batch.")] = 4,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimizer step.")] = 1,
    lr: Annotated[Optional[float], typer.Option(
        help="Peak learning rate (default: 3e-3 tiny, 2e-4 LoRA, 1e-4 align, 1e-5 full "
             "weights).")] = None,
    encoder_lr: Annotated[Optional[float], typer.Option(
        help="Peak learning rate of the audio encoder (default: --lr).")] = None,
    projector_lr: Annotated[Optional[float], typer.Option(
        help="Peak learning rate of the projector (default: --lr).")] = None,
    lr_scheduler: Annotated[str, typer.Option(
        help="cosine, linear, constant, constant_with_warmup, polynomial or inverse_sqrt.")]
    = "cosine",
    weight_decay: Annotated[float, typer.Option(
        help="AdamW weight decay (not on biases and LayerNorm weights).")] = 0.0,
    max_grad_norm: Annotated[float, typer.Option(
        help="Clip the gradient to this norm (0: no clipping).")] = 1.0,
    warmup: Annotated[float, typer.Option(help="Warm-up: a fraction of the steps (< 1) or a "
                                               "step count.")] = 0.03,
    optimizer: Annotated[str, typer.Option(
        help="adamw (fused AdamW), adamw8bit (bitsandbytes' 8-bit AdamW, CUDA only) or sgd "
             "(plain SGD, no momentum: each update is -lr x gradient, so runs that split the "
             "same work differently agree weight for weight).")] = "adamw",
    seed: Annotated[int, typer.Option(help="Seed for mixing, shuffling and initialisation.")] = 0,
    logging_steps: Annotated[int, typer.Option(help="Log every N steps.")] = 10,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 500,
    eval_steps: Annotated[Optional[int], typer.Option(help="Eval every N steps (default: "
                                                           "--save-steps).")] = None,
    save_best: Annotated[Optional[str], typer.Option(
        help="cer or loss: also checkpoint at every evaluation that lowers it, and keep the best "
             "checkpoint whatever the rotation (train.json names it under 'best').")] = None,
    early_stop: Annotated[Optional[int], typer.Option(
        help="Stop after K evaluations in a row without a lower --save-best metric (CER unless "
             "--save-best loss). Like --save-best, it checkpoints every evaluation that lowers "
             "the metric and keeps the best checkpoint (train.json names it under 'best'), so "
             "the model it stopped for is on disk.")] = None,
    report_to: Annotated[str, typer.Option(
        help="tensorboard, wandb or none. wandb needs WANDB_MODE set: offline (logs in "
             "OUT/wandb, wandb sync later) or online.")] = "tensorboard",
    group_by_length: Annotated[bool, typer.Option(help="Length-grouped batches for the LLM.")]
    = True,
    num_workers: Annotated[Optional[int], typer.Option(
        help="Data loader worker processes (default 4 with a GPU, 0 on the CPU).")] = None,
    precision: Annotated[Optional[str], typer.Option(
        help="bf16-mixed, fp16-mixed, bf16 or fp32. Mixed: trainable weights and optimizer state "
             "in fp32, frozen weights in 16 bits, compute under autocast (default: bf16-mixed on "
             "GPUs with bf16, fp16-mixed on others, fp32 on the CPU). bf16: everything in bf16 "
             "(small updates are rounded away).")] = None,
    gradient_checkpointing: Annotated[bool, typer.Option(help="Recompute activations to save "
                                                              "memory.")] = False,
    deepspeed: Annotated[Optional[Path], typer.Option(
        help="DeepSpeed JSON config (train_adapter/configs/ds_zero2.json, ds_zero3.json).",
        exists=True, dir_okay=False)] = None,
    fsdp: Annotated[Optional[Path], typer.Option(
        help="FSDP JSON config (train_adapter/configs/fsdp.json).", exists=True,
        dir_okay=False)] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in "
                                              "OUT/checkpoints.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Start over in an OUT that holds checkpoints "
                                                 "of an earlier run.")] = False,
    merge_lora: Annotated[bool, typer.Option(help="With LoRA: also write a merged full "
                                                  "checkpoint to OUT (adapter in OUT/adapter).")]
    = False,
    allow_sensitive: Annotated[bool, typer.Option(help="Train on records tagged sensitive or "
                                                       "split eval_only.")] = False,
) -> None:
    """Fine-tune an audio LLM on manifests (HF Trainer; runs under torchrun / accelerate launch).

    Example: curate train --model /models/Qwen2-Audio-7B --data runs/w5/RUN:0.7
    --data runs/car100h/RUN:0.3 --task correct --stage sft --lora r=16 --out ckpt/sft1

    CPU smoke run: curate train --model tiny --data runs/demo/RUN --stage sft --max-steps 50
    --out ckpt/smoke

    CER while training: curate train --model tiny --data runs/demo/RUN --eval EVAL.jsonl
    --eval-steps 25 --save-best cer --early-stop 3 --max-steps 200 --out ckpt/smoke

    From a file, with a flag overriding it: curate train --config train.toml --max-steps 10
    """
    options = dict(locals())   # first: the options and nothing else
    from .console import escape, make_console

    console = make_console(stderr=True)
    try:
        o = _resolve_options(ctx, options)
    except ValueError as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)

    from train_adapter.data import TASKS
    from train_adapter.recipe import (LORA_TARGETS, Recipe, RecipeError, parse_encoder_layers,
                                      parse_lora, parse_lora_targets)

    try:
        for name in ("model", "data", "out"):
            if not getattr(o, name):
                raise RecipeError(f"missing --{name} (on the command line or in --config)")
        recipe = Recipe(o.stage, lora=None if o.lora is None else parse_lora(
                            "" if o.lora == "default" else o.lora),
                        qlora=o.qlora, encoder_layers=parse_encoder_layers(o.encoder_layers),
                        encoder_attn_only=o.encoder_attn_only,
                        lora_targets=parse_lora_targets(o.lora_targets) if o.lora_targets
                        else LORA_TARGETS)
        if o.task not in TASKS:
            raise RecipeError(f"--task must be asr, correct or mix, got {o.task!r}")
        if o.merge_lora and recipe.lora is None:
            raise RecipeError("--merge-lora needs --lora or --qlora")
        if o.deepspeed and o.fsdp:
            raise RecipeError("choose one of --deepspeed and --fsdp")
        _check_out(o.out, o.resume, o.overwrite)
        scorer = _cer_scorer(o.eval_data) if o.eval_data else None
    except (RecipeError, FileExistsError) as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)

    from train_adapter.finetune import Job, TrainError, finetune
    from train_adapter.trainer import Settings
    try:
        loop = Settings(out=o.out, batch_size=o.batch_size, grad_accum=o.grad_accum, lr=o.lr,
                        max_steps=o.max_steps, epochs=o.epochs, warmup=o.warmup,
                        weight_decay=o.weight_decay, optimizer=o.optimizer,
                        lr_scheduler=o.lr_scheduler, max_grad_norm=o.max_grad_norm,
                        encoder_lr=o.encoder_lr, projector_lr=o.projector_lr,
                        report_to=o.report_to, seed=o.seed, logging_steps=o.logging_steps,
                        save_steps=o.save_steps, eval_steps=o.eval_steps,
                        save_best=o.save_best, early_stop=o.early_stop,
                        grouped=o.group_by_length, num_workers=o.num_workers,
                        precision=o.precision, gradient_checkpointing=o.gradient_checkpointing,
                        deepspeed=str(o.deepspeed) if o.deepspeed else None,
                        fsdp=str(o.fsdp) if o.fsdp else None)
    except ValueError as e:
        console.print(f"[red]error:[/] --{escape(e)}")
        raise typer.Exit(2)
    _save_config(ctx, o)
    job = Job(model=o.model, data=o.data, recipe=recipe, loop=loop, task=o.task,
              eval_data=o.eval_data or [], prompts_file=o.prompts, prompt_style=o.prompt_style,
              resume=o.resume, merge_lora=o.merge_lora, allow_sensitive=o.allow_sensitive,
              scorer=scorer)
    try:
        folder = finetune(job, console)
    except TrainError as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)
    if folder is not None:
        typer.echo(str(folder))


def _options_by_key(ctx: typer.Context) -> dict:
    """Config-file key → the click parameter: its flag name (max-steps, eval) or its Python
    name (max_steps, eval_data)."""
    keys = {}
    for param in ctx.command.params:
        if param.name == "config":
            continue
        keys[param.name] = param
        for flag in param.opts:
            if flag.startswith("--"):
                keys[flag[2:]] = param
    return keys


def _resolve_options(ctx: typer.Context, values: dict):
    """The options: the command line's, then the --config file's for those left at their
    defaults. A key that names no option, or a value of the wrong type, is an error naming
    the file and key."""
    import tomllib
    from types import SimpleNamespace

    values.pop("ctx")
    config = values["config"]
    if config is not None:
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"--config {config}: {e}") from None
        params = _options_by_key(ctx)
        for key, value in table.items():
            param = params.get(key)
            if param is None:
                valid = sorted(k for k in params if "_" not in k)
                raise ValueError(f"--config {config}: unknown option {key!r}; valid: "
                                 f"{', '.join(valid)}")
            if ctx.get_parameter_source(param.name).name != "DEFAULT":
                continue   # the command line wins
            if param.multiple and isinstance(value, str):
                value = [value]
            try:
                converted = param.process_value(ctx, value)
            except typer.BadParameter as e:
                raise ValueError(f"--config {config}: {key}: {e.message}") from None
            values[param.name] = converted
    return SimpleNamespace(**values)


def _save_config(ctx: typer.Context, o) -> None:
    """OUT/train_config.toml: every option this run used, readable back with --config; not
    --resume or --overwrite, which would make a replay resume or delete a run unasked."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return
    header = f"# the options of this curate train run: curate train --config {CONFIG_FILE}"
    lines = [header]
    for param in ctx.command.params:
        value = getattr(o, param.name, None)
        if param.name in ("config", "resume", "overwrite") or value is None:
            continue
        flag = next(f[2:] for f in param.opts if f.startswith("--"))
        lines.append(f"{flag} = {_toml_value(value)}")
    o.out.mkdir(parents=True, exist_ok=True)
    (o.out / CONFIG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))   # a JSON string is a TOML basic string


def _cer_scorer(eval_paths: list[str]):
    """The scorer of CER while training: ``curate cer``'s evaluation with its defaults (profile
    zh, mixed units, unclear spans excluded, missing hypotheses as deletions) against the eval
    sets' references; with Base1 hypotheses, the correction accounting of --corrects."""
    from manifests import Problems
    from train_adapter.data import DataError, parse_data_spec
    from train_adapter.recipe import RecipeError

    from .cer import InputError, Settings, evaluate, load_hypotheses, load_reference
    from .cer.inputs import Hypotheses, Reference

    try:
        refs = [load_reference(parse_data_spec(p)[0]) for p in eval_paths]
    except (InputError, DataError) as e:
        raise RecipeError(f"--eval: {e}") from None
    reference = refs[0] if len(refs) == 1 else Reference(
        source=", ".join(r.source for r in refs), ids=[i for r in refs for i in r.ids],
        texts=[t for r in refs for t in r.texts],
        fuzzy_tagged=set().union(*(r.fuzzy_tagged for r in refs)),
        audio={k: v for r in refs for k, v in r.audio.items()})
    nothing = evaluate(reference, [Hypotheses("none", "", {}, Problems())],
                       Settings(resamples=0), detail=False)
    if not nothing.totals["none"].N:
        raise RecipeError(f"--eval {', '.join(eval_paths)}: no reference text to score a CER on "
                          "(every label is empty or has an unclear span)")

    def score(hyp_file: Path, base1: dict[str, str] | None) -> dict[str, float | None]:
        model = load_hypotheses(f"model={hyp_file}")
        scores = {"cer": evaluate(reference, [model], Settings(resamples=0),
                                  detail=False).totals["model"].cer}
        if base1:
            # fix/break over the records that have a Base1 hypothesis (the correct-task ones)
            # only: with --task mix the asr-task records have none, and counting them as all
            # deletions of Base1 would credit the model with "fixes" it never made
            keep = [k for k, rid in enumerate(reference.ids) if rid in base1]
            ids = {reference.ids[k] for k in keep}
            subset = Reference(source=reference.source, ids=[reference.ids[k] for k in keep],
                               texts=[reference.texts[k] for k in keep],
                               fuzzy_tagged=reference.fuzzy_tagged & ids,
                               audio={i: a for i, a in reference.audio.items() if i in ids})
            systems = [Hypotheses("model", model.source,
                                  {i: t for i, t in model.texts.items() if i in ids},
                                  model.problems),
                       Hypotheses("base1", "the eval records' hyp",
                                  {i: t for i, t in base1.items() if i in ids}, Problems())]
            ev = evaluate(subset, systems, Settings(resamples=0, corrects=(("model", "base1"),)),
                          detail=True)
            c = ev.corrections[0]
            scores.update(fix_rate=c.fix_rate, break_rate=c.over_correction_rate)
        return scores

    return score


def _check_out(out: Path, resume: bool, overwrite: bool) -> None:
    import os
    import shutil

    checkpoints = out / "checkpoints"
    earlier = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    if resume and not earlier:
        raise FileExistsError(f"--resume: no checkpoint in {checkpoints} to continue from")
    if earlier and not resume:
        if not overwrite:
            raise FileExistsError(f"{out} holds checkpoints of an earlier run: pass --resume to "
                                  f"continue it or --overwrite to start over")
        if os.environ.get("RANK", "0") == "0":   # one process clears; the rest wait to build
            for name in ("checkpoints", "tiny-init", "adapter", "eval"):   # what train wrote
                shutil.rmtree(out / name, ignore_errors=True)
