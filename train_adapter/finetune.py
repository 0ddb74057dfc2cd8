"""The fine-tuning recipe end to end, as ``curate train`` runs it:
data → model → recipe (what trains) → loss hooks → collator → trainer → saved model.
"""
from __future__ import annotations

import os
import shlex
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from manifests import Problems

from . import collator as collate
from . import data as datamod
from . import model as modelmod
from . import prompts as promptmod
from . import recipe as recipemod
from .evaluation import GenerationEval, Scorer
from .loss import LabelledLogits
from .precision import Precision, PrecisionError, cast_trainable, device_precision
from .sampler import LengthGroupedSampler, padding_share, window_utilisation
from .trainer import (Settings, build_trainer, check_report_to, save_final, settings_record,
                      step_rows, training_arguments)


class TrainError(ValueError):
    """Input that stops a training run before it starts; the message says what to change."""


@dataclass
class Job:
    """Everything ``curate train`` was asked to do."""

    model: str
    data: list[str]
    recipe: recipemod.Recipe
    loop: Settings                # the output folder and the loop's knobs
    task: str = "asr"
    eval_data: list[str] = field(default_factory=list)
    prompts_file: Path | None = None
    prompt_style: str = "auto"
    resume: bool = False
    merge_lora: bool = False
    allow_sensitive: bool = False
    scorer: Scorer | None = None  # with eval_data: CER of generation at each evaluation


def default_lr(job: Job, tiny: bool) -> float:
    """``tiny``: ``job.model`` names the tiny random model."""
    if tiny:
        return 3e-3          # a random 0.3M-parameter model learns visibly in 50 steps
    if job.recipe.lora:
        return 2e-4
    return 1e-4 if job.recipe.stage == "align" else 1e-5


def finetune(job: Job, console: Console | None = None) -> Path | None:
    """Train as ``job`` says; returns the folder to load for inference (None on other ranks)."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    console = console or Console(stderr=True)
    cuda = torch.cuda.is_available()
    try:
        check_launch(torch.cuda.device_count(), os.environ,
                     sys.argv[1:] if sys.argv[1:2] == ["train"] else None)
        precision = device_precision(job.loop.precision)
        check_optimizer(job.loop.optimizer, cuda)
        check_report_to(job.loop.report_to, os.environ)
        if (job.loop.save_best or job.loop.early_stop) and not job.eval_data:
            raise TrainError("--save-best and --early-stop follow an eval metric: give --eval")
        tiny = modelmod.parse_tiny(job.model)   # None: a checkpoint folder
        if tiny:
            tiny.family.check_transformers()
    except (recipemod.RecipeError, modelmod.ModelError, PrecisionError, ValueError) as e:
        raise TrainError(str(e)) from None
    # what the job left open: the recipe's learning rate, and what the hardware allows
    settings = replace(
        job.loop, out=Path(job.loop.out),
        lr=default_lr(job, bool(tiny)) if job.loop.lr is None else job.loop.lr,   # 0 is a value
        num_workers=(4 if cuda else 0) if job.loop.num_workers is None else job.loop.num_workers,
        precision=precision.name)
    args = training_arguments(settings, has_eval=bool(job.eval_data))   # starts distributed
    main = args.process_index == 0
    say = console.print if main else (lambda *a, **k: None)

    processor = None   # a checkpoint's, read once here for its window and reused by load()
    try:
        if tiny:
            window, family = tiny.window, tiny.family
        else:
            processor = modelmod.load_processor(job.model)
            window, family = processor.window_seconds, processor.family
        quantization = recipemod.qlora_config(precision.compute, family) \
            if job.recipe.qlora else None
        rules = datamod.Rules(task=job.task, max_seconds=window,
                              allow_sensitive=job.allow_sensitive, seed=settings.seed)
        problems = Problems()
        mixture, reports = datamod.load_mixture(job.data, rules, problems)
        eval_examples = _eval_examples(job, rules, problems)
    except (datamod.DataError, modelmod.ModelError, recipemod.RecipeError) as e:
        raise TrainError(str(e)) from None
    say(_data_table(reports, window))
    _say_problems(say, problems)

    if tiny:
        model_dir = settings.out / "tiny-init"
        with args.main_process_first(desc="build the tiny model"):
            if main and not (job.resume and (model_dir / "config.json").is_file()):
                texts = [t for ex in mixture.examples for t in (ex.text, ex.hyp) if t]
                with zero3_init_off(args):
                    modelmod.build_tiny(model_dir, texts, window=window, seed=settings.seed,
                                        family=family)
                say(f"tiny {family.title} model ({window} s window) built in {model_dir}")
    else:
        model_dir = Path(job.model)
    try:
        model, processor = prepare_model(model_dir, job.recipe, precision,
                                         quantization=quantization, processor=processor)
        prompts = promptmod.load(str(model_dir), job.prompt_style,
                                 str(job.prompts_file) if job.prompts_file else None,
                                 family=family)
    except (modelmod.ModelError, promptmod.PromptError, recipemod.RecipeError) as e:
        raise TrainError(str(e)) from None
    check_fsdp_layers(settings.fsdp, model)
    say(_trainable_table(model, job.recipe))
    say(f"precision {precision.name}: trainable weights and optimizer state "
        f"{_dtype_name(precision.trainable)}, frozen weights {_dtype_name(precision.frozen)}, "
        f"compute {_dtype_name(precision.compute)}")
    LabelledLogits(model)

    # ZeRO-3 / FSDP gather the encoder's weights collectively: every rank must run it too
    collator = collate.Collator(processor, prompts,
                                silent_audio=recipemod.audio_path_trainable(model)
                                or bool(settings.deepspeed or settings.fsdp))
    lengths = collate.token_lengths(mixture.examples, prompts, processor)
    say(_mixture_figures(mixture, lengths, window, settings, args))
    say(f"prompts: {prompts.style} ({escape(prompts.why)}); task {job.task}; {len(mixture)} "
        f"examples per epoch, redrawn by weight each epoch")

    generation_eval = GenerationEval(eval_examples, processor, prompts, settings.out / "eval",
                                     job.scorer) if eval_examples and job.scorer else None
    trainer = build_trainer(model, processor, mixture.examples, collator, lengths, args,
                            grouped=settings.grouped, draw=mixture.draw,
                            eval_data=eval_examples or None, prompts=prompts,
                            generation_eval=generation_eval, settings=settings)
    result = trainer.train(resume_from_checkpoint=True if job.resume else None)
    record = {"model": job.model, "model_dir": str(model_dir), "data": job.data,
              "task": job.task, "recipe": asdict(job.recipe), "settings": settings_record(settings),
              "sources": [r.as_dict() for r in reports], "global_step": trainer.state.global_step,
              "best": _best(trainer), "log_history": trainer.state.log_history}
    folder = save_final(trainer, processor, prompts, settings.out,
                        lora=job.recipe.lora is not None, merge_lora=job.merge_lora, record=record)
    say(_summary(trainer, result, folder))
    return folder if main else None


@contextmanager
def zero3_init_off(args):
    """ZeRO-3 switched off for the tiny build: with --deepspeed and a stage-3 config, creating
    ``args`` registered its ``HfDeepSpeedConfig`` in transformers' global weakref, and while it
    is there ``is_deepspeed_zero3_enabled()`` is True. The families' model classes build their
    audio tower and language model through ``_from_config``, which then enters
    ``deepspeed.zero.Init`` (each parameter partitioned to an empty placeholder), and
    ``save_pretrained`` would write those empty tensors as the tiny checkpoint. The build runs
    on the main process alone, before any engine exists, and the model it writes is then loaded
    (partitioned) like any checkpoint. The build cannot move before ``args``: it needs the
    mixture, read after distributed setup, and ``args.main_process_first``."""
    from transformers.integrations import set_hf_deepspeed_config, unset_hf_deepspeed_config

    config = getattr(args, "hf_deepspeed_config", None)   # what TrainingArguments registered
    if config is None:
        yield
        return
    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        set_hf_deepspeed_config(config)


def check_optimizer(optimizer: str, cuda: bool) -> None:
    if optimizer != "adamw8bit":
        return
    if not cuda:
        raise TrainError("--optimizer adamw8bit is bitsandbytes' 8-bit AdamW, which needs a CUDA "
                         "GPU, and none is visible here; use --optimizer adamw")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise TrainError("--optimizer adamw8bit needs the bitsandbytes package: "
                         "pip install bitsandbytes") from None


def _best(trainer) -> dict | None:
    """The kept best checkpoint (--save-best or --early-stop), as train.json records it.
    ``checkpoint`` is the Trainer's ``best_model_checkpoint`` only when that folder was saved at
    the best step and still exists, else None: a name must never point at other weights.
    (:class:`.trainer.KeepBest` saves at every better evaluation, so it is there.)"""
    state = trainer.state
    if not trainer.args.metric_for_best_model or state.best_global_step is None:
        return None
    folder = state.best_model_checkpoint
    if folder is not None and not (Path(folder).name == f"checkpoint-{state.best_global_step}"
                                   and Path(folder).is_dir()):
        folder = None
    return {"metric": trainer.args.metric_for_best_model, "value": state.best_metric,
            "step": state.best_global_step, "checkpoint": folder}


def check_launch(gpus: int, env, command: list[str] | None = None) -> None:
    """Refuse one process on several GPUs: the Trainer would wrap the model in
    ``nn.DataParallel``, whose replicas the :class:`.loss.LabelledLogits` hooks never see.
    ``env``: the environment (a launcher sets WORLD_SIZE); ``command``: the ``curate`` arguments
    to repeat in the message."""
    if gpus > 1 and int(env.get("WORLD_SIZE", "1")) <= 1:
        args = shlex.join(command) if command else "train ..."
        raise TrainError(f"{gpus} GPUs are visible to one process; start one process per GPU: "
                         f"torchrun --nproc_per_node {gpus} -m curate {args} "
                         f"(or use one GPU: CUDA_VISIBLE_DEVICES=0 curate {args})")


def check_fsdp_layers(fsdp_config: str | None, model) -> None:
    """FSDP wraps the layer classes its config names; a name the model does not have (a config
    written for another family) would leave those layers unsharded without a word."""
    if not fsdp_config:
        return
    import json

    try:
        wanted = json.loads(Path(fsdp_config).read_text(encoding="utf-8")) \
            .get("transformer_layer_cls_to_wrap") or []
    except (OSError, ValueError, AttributeError) as e:
        raise TrainError(f"--fsdp {fsdp_config}: cannot read it ({e})") from None
    family = modelmod.family_of(model)
    parts = family.parts(model)
    layers = sorted({type(parts.layers[0]).__name__, type(parts.llm.layers[0]).__name__})
    present = {type(m).__name__ for m in model.modules()}
    missing = [name for name in wanted if name not in present]
    if missing:
        raise TrainError(f"--fsdp {fsdp_config} wraps {', '.join(missing)}, which this "
                         f"{family.title} model does not have; its layers are "
                         f"{', '.join(layers)} (set transformer_layer_cls_to_wrap to them)")


def prepare_model(model_dir, recipe: recipemod.Recipe, precision: Precision, *,
                  quantization=None, processor=None):
    """(model to train, processor): ``model_dir`` loaded with its frozen weights in
    ``precision.frozen``, the recipe applied, and its trainable weights in
    ``precision.trainable`` (the optimizer's state takes their dtype)."""
    model, processor = modelmod.load(model_dir, dtype=precision.frozen,
                                     quantization_config=quantization, processor=processor)
    model = recipemod.apply(model, recipe)
    cast_trainable(model, precision)
    return model, processor


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _eval_examples(job: Job, rules: datamod.Rules, problems: Problems) -> list:
    """Eval sets may hold sensitive records: evaluation is what they are kept for."""
    eval_rules = datamod.Rules(task=rules.task, max_seconds=rules.max_seconds,
                               allow_sensitive=True, training=False, seed=rules.seed)
    examples = []
    for path in job.eval_data:
        # what curate infer reads (and the scorer's reference holds): a run directory's manifest
        # and its eval-only records, not the manifest alone
        for file in datamod.eval_sources(datamod.parse_data_spec(path)[0]):
            found, _ = datamod.read_source(file, eval_rules, problems)
            examples.extend(found)
    return examples


def _data_table(reports, window: float) -> Table:
    table = Table(title=f"training data (encoder window {window:g} s)")
    for col in ("source", "kind", "weight", "read", "kept", "hours", "in mixture", "set aside"):
        table.add_column(col, justify="left" if col in ("source", "kind", "set aside") else "right")
    for r in reports:
        aside = ", ".join(f"{n} {datamod.REASONS.get(k, k)}" for k, n in r.set_aside.most_common())
        table.add_row(r.path, r.kind, f"{r.weight:g}", str(r.read), str(r.kept),
                      f"{r.seconds / 3600:.3f}", str(r.sampled), aside or "-")
    return table


def _say_problems(say, problems: Problems, limit: int = 10) -> None:
    for p in list(problems)[:limit]:
        say(f"[yellow]problem:[/] {p}")
    if len(problems) > limit:
        say(f"[yellow]... and {len(problems) - limit} more problems[/]")


def _trainable_table(model, recipe: recipemod.Recipe) -> Table:
    lora = f", LoRA r={recipe.lora.r} alpha={recipe.lora.alpha} dropout={recipe.lora.dropout:g}" \
        if recipe.lora else ""
    table = Table(title=f"trainable parameters (stage {recipe.stage}{lora})")
    for col in ("component", "parameters", "trainable", "%"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for part, total, trainable in recipemod.trainable_table(model):
        table.add_row(part, f"{total:,}", f"{trainable:,}", f"{100 * trainable / total:.1f}")
    return table


def _mixture_figures(mixture: datamod.Mixture, lengths, window: float, settings: Settings,
                     args) -> str:
    durations = [ex.duration for ex in mixture.epoch(0) if ex.audio is not None]
    rows = step_rows(args)
    epoch_lengths = [lengths[i] for i in mixture.draw(0)]
    grouped = LengthGroupedSampler(epoch_lengths, rows, seed=settings.seed, grouped=True)
    shuffled = LengthGroupedSampler(epoch_lengths, rows, seed=settings.seed, grouped=False)
    figures = (f"encoder window utilisation {100 * window_utilisation(durations, window):.1f} % "
               f"(audio s ÷ (clips × {window:g} s)); LLM padding share "
               f"{100 * padding_share(epoch_lengths, grouped.order(), settings.batch_size):.1f} % "
               f"with length grouping, "
               f"{100 * padding_share(epoch_lengths, shuffled.order(), settings.batch_size):.1f} "
               f"% without ({'on' if settings.grouped else 'off'} for this run)")
    if grouped.padding:
        figures += (f"; {len(mixture)} examples per epoch are not a multiple of the {rows} rows "
                    f"of a step: the epoch's last step is filled with {grouped.padding} weightless "
                    f"rows (no loss, no gradient)")
    return figures


def _summary(trainer, result, folder: Path) -> Table:
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    table = Table(title="training done", show_header=False)
    table.add_row("steps", str(trainer.state.global_step))
    if losses:
        table.add_row("loss (first → last log)", f"{losses[0]:.4f} → {losses[-1]:.4f}")
    table.add_row("time", f"{result.metrics.get('train_runtime', 0):.1f} s")
    table.add_row("model", escape(str(folder)))
    best = _best(trainer)
    if best:
        kept = best["checkpoint"] or "no checkpoint kept"
        table.add_row(f"best {best['metric']} (step {best['step']})",
                      escape(f"{best['value']:.4f}: {kept}"))
    table.add_row("checkpoints", escape(str(Path(trainer.args.output_dir))))
    return table
