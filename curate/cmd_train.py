"""``curate train``: fine-tune Qwen2-Audio on curated manifests."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def train(
    model: Annotated[str, typer.Option(
        help="Local Qwen2-Audio folder (base or Instruct), a folder written by curate train, or "
             "'tiny' (a tiny random model with a 30 s window, built from the data's texts; "
             "'tiny:8' gives an 8 s window for fast CI runs). Nothing is ever downloaded.")],
    data: Annotated[list[str], typer.Option(
        help="PATH[:WEIGHT], repeatable: a run directory, a manifest .jsonl, or text-only "
             "correction pairs (name<TAB>hyp<TAB>ref .tsv, or JSONL with hyp and ref), mixed "
             "by weight.")],
    out: Annotated[Path, typer.Option(help="Output folder: checkpoints/, tensorboard/, and the "
                                           "final model.")],
    task: Annotated[str, typer.Option(help="asr (audio → text), correct (audio + Base1 hyp → "
                                           "text) or mix (both).")] = "asr",
    stage: Annotated[str, typer.Option(help="align (encoder + projector), sft (LLM) or full.")]
    = "sft",
    lora: Annotated[Optional[str], typer.Option(
        help="LoRA on the LLM's linear layers: 'r=16,alpha=32,dropout=0.05' (any subset) or "
             "'default'.")] = None,
    qlora: Annotated[bool, typer.Option(help="LoRA on a 4-bit LLM (CUDA and bitsandbytes "
                                             "only).")] = False,
    encoder_layers: Annotated[str, typer.Option(help="Encoder layers to train: all, or last:N "
                                                     "(plus the encoder's final LayerNorm).")]
    = "all",
    encoder_attn_only: Annotated[bool, typer.Option(help="Train only the self-attention of the "
                                                         "chosen encoder layers.")] = False,
    eval_data: Annotated[Optional[list[str]], typer.Option(
        "--eval", help="Manifest or run directory for an eval loss (sensitive records allowed "
                       "here), repeatable.")] = None,
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
    warmup: Annotated[float, typer.Option(help="Warm-up: a fraction of the steps (< 1) or a "
                                               "step count.")] = 0.03,
    optimizer: Annotated[str, typer.Option(
        help="adamw (fused AdamW) or sgd (plain SGD, no momentum: each update is -lr x gradient, "
             "so runs that split the same work differently agree weight for weight).")] = "adamw",
    seed: Annotated[int, typer.Option(help="Seed for mixing, shuffling and initialisation.")] = 0,
    logging_steps: Annotated[int, typer.Option(help="Log every N steps.")] = 10,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 500,
    eval_steps: Annotated[Optional[int], typer.Option(help="Eval every N steps (default: "
                                                           "--save-steps).")] = None,
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
    """Fine-tune Qwen2-Audio on manifests (HF Trainer; runs under torchrun / accelerate launch).

    Example: curate train --model /models/Qwen2-Audio-7B --data runs/w5/RUN:0.7
    --data runs/car100h/RUN:0.3 --task correct --stage sft --lora r=16 --out ckpt/sft1

    CPU smoke run: curate train --model tiny --data runs/demo/RUN --stage sft --max-steps 50
    --out ckpt/smoke
    """
    from train_adapter.data import TASKS
    from train_adapter.recipe import Recipe, RecipeError, parse_encoder_layers, parse_lora

    from .console import escape, make_console

    console = make_console(stderr=True)
    try:
        recipe = Recipe(stage, lora=None if lora is None else parse_lora(
                            "" if lora == "default" else lora),
                        qlora=qlora, encoder_layers=parse_encoder_layers(encoder_layers),
                        encoder_attn_only=encoder_attn_only)
        if task not in TASKS:
            raise RecipeError(f"--task must be asr, correct or mix, got {task!r}")
        if merge_lora and recipe.lora is None:
            raise RecipeError("--merge-lora needs --lora or --qlora")
        if deepspeed and fsdp:
            raise RecipeError("choose one of --deepspeed and --fsdp")
        _check_out(out, resume, overwrite)
    except (RecipeError, FileExistsError) as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)

    from train_adapter.finetune import Job, TrainError, finetune
    from train_adapter.trainer import Settings
    try:
        loop = Settings(out=out, batch_size=batch_size, grad_accum=grad_accum, lr=lr,
                        max_steps=max_steps, epochs=epochs, warmup=warmup, optimizer=optimizer,
                        seed=seed, logging_steps=logging_steps, save_steps=save_steps,
                        eval_steps=eval_steps, grouped=group_by_length, num_workers=num_workers,
                        precision=precision,
                        gradient_checkpointing=gradient_checkpointing,
                        deepspeed=str(deepspeed) if deepspeed else None,
                        fsdp=str(fsdp) if fsdp else None)
    except ValueError as e:
        console.print(f"[red]error:[/] --{escape(e)}")
        raise typer.Exit(2)
    job = Job(model=model, data=data, recipe=recipe, loop=loop, task=task,
              eval_data=eval_data or [], prompts_file=prompts, prompt_style=prompt_style,
              resume=resume, merge_lora=merge_lora, allow_sensitive=allow_sensitive)
    try:
        folder = finetune(job, console)
    except TrainError as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)
    if folder is not None:
        typer.echo(str(folder))


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
            for name in ("checkpoints", "tiny-init", "adapter"):   # what curate train wrote
                shutil.rmtree(out / name, ignore_errors=True)
