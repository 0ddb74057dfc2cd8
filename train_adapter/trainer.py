"""The training loop: the HF Trainer with the adapter's sampler, loss, logging and outputs.

Runs as one process or under ``torchrun`` / ``accelerate launch`` (DDP; DeepSpeed ZeRO-2/3 and
FSDP through ``--deepspeed`` / ``--fsdp`` config files, see ``configs/README.md``; one process on
several GPUs is refused, see :func:`.finetune.check_launch`), in the ``--precision`` of
:mod:`.precision`. An epoch that does not fill its last step is padded with weightless rows
(:class:`.sampler.LengthGroupedSampler`), so any process count trains the same. TensorBoard logs
go to ``$TENSORBOARD_LOGGING_DIR`` (default ``OUT/tensorboard``): loss, grad_norm, learning rate,
samples/s and tokens/s, and with an eval set eval loss and eval_cer (:mod:`.evaluation`).
``save_best`` checkpoints every evaluation that improves its metric; the Trainer keeps that
checkpoint out of the ``save_total_limit`` rotation. ``early_stop`` does the same (with the metric
``save_best`` names, CER by default): the run stops on a model that has stopped improving, and the
checkpoint train.json names as best must then exist and hold the weights of the best evaluation,
which a checkpoint every ``save_steps`` would not (the best step is rarely a multiple of it, and a
plain checkpoint rotates away).

``--resume`` reads a full checkpoint's weights into the model already built, one tensor at a time
(:func:`load_checkpoint_weights`): never a second copy of the model on each process.

Output folder: ``checkpoints/checkpoint-N`` (for ``--resume``), then the final model in ``OUT``
itself — a full checkpoint, or with LoRA the adapter (``OUT/adapter`` plus a merged full
checkpoint in ``OUT`` when ``merge_lora``).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import Dataset
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from .loss import token_loss
from .precision import PRECISIONS, device_precision
from .sampler import LengthGroupedSampler

console = Console(stderr=True)
# Settings.optimizer → the Trainer's optimizer name. sgd is plain SGD (no momentum): each update
# is -lr × gradient, so runs whose gradients agree end with weights that agree; AdamW divides by
# the gradient's running RMS and turns float noise in near-zero gradients into full-size updates.
# adamw8bit is bitsandbytes' 8-bit AdamW (CUDA only; checked by finetune before the model loads).
OPTIMIZERS = {"adamw": "adamw_torch_fused", "sgd": "sgd", "adamw8bit": "adamw_bnb_8bit"}
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "polynomial",
              "inverse_sqrt")
REPORT_TO = ("tensorboard", "wandb", "none")
BEST_METRICS = ("cer", "loss")   # --save-best: the eval metric whose lowest value is kept
# A user's choice, read once: each run then points the variable at its own folder by default.
USER_TENSORBOARD_DIR = os.environ.get("TENSORBOARD_LOGGING_DIR")


@dataclass
class Settings:
    """The loop's knobs (the CLI's options)."""

    out: Path
    batch_size: int = 4
    grad_accum: int = 1
    lr: float | None = None       # None: finetune picks the recipe's (default_lr)
    max_steps: int = -1
    epochs: float = 1.0
    warmup: float = 0.03          # a fraction of the steps (< 1) or a step count
    weight_decay: float = 0.0     # not applied to biases and LayerNorm weights
    optimizer: str = "adamw"      # a key of OPTIMIZERS; a DeepSpeed config's optimizer wins
    lr_scheduler: str = "cosine"  # one of SCHEDULERS
    max_grad_norm: float = 1.0    # gradient clipping; 0 turns it off
    encoder_lr: float | None = None    # None: ``lr``; LoRA and LLM weights always train at ``lr``
    projector_lr: float | None = None
    report_to: str = "tensorboard"     # one of REPORT_TO
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 3
    eval_steps: int | None = None
    save_best: str | None = None  # one of BEST_METRICS: that metric's best checkpoint is kept
    early_stop: int | None = None  # stop after this many evaluations without a better metric;
    # like save_best it checkpoints each better evaluation and keeps the best (KeepBest)
    grouped: bool = True
    num_workers: int | None = None  # None: finetune picks 4 with a GPU, 0 on the CPU
    precision: str | None = None  # a key of precision.PRECISIONS; None: the device's default
    gradient_checkpointing: bool = False
    deepspeed: str | None = None
    fsdp: str | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        for flag, value, allowed in (("lr-scheduler", self.lr_scheduler, SCHEDULERS),
                                     ("report-to", self.report_to, REPORT_TO),
                                     ("save-best", self.save_best, (None, *BEST_METRICS))):
            if value not in allowed:
                raise ValueError(f"{flag} must be one of "
                                 f"{', '.join(a for a in allowed if a)}, got {value!r}")
        for flag, value in (("max-grad-norm", self.max_grad_norm),
                            ("weight-decay", self.weight_decay),
                            ("encoder-lr", self.encoder_lr), ("projector-lr", self.projector_lr)):
            if value is not None and value < 0:
                raise ValueError(f"{flag} must be >= 0, got {value}")
        if self.early_stop is not None and self.early_stop < 1:
            raise ValueError(f"early-stop must be >= 1 evaluations, got {self.early_stop}")

    @property
    def best_metric(self) -> str | None:
        """The metric --save-best and --early-stop follow (CER unless --save-best says loss)."""
        if self.save_best or self.early_stop:
            return f"eval_{self.save_best or 'cer'}"
        return None

    @property
    def checkpoints(self) -> Path:
        return Path(self.out) / "checkpoints"


def training_arguments(s: Settings, has_eval: bool) -> TrainingArguments:
    precision = device_precision(s.precision)
    os.environ["TENSORBOARD_LOGGING_DIR"] = USER_TENSORBOARD_DIR or str(Path(s.out) / "tensorboard")
    return TrainingArguments(
        output_dir=str(s.checkpoints),
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        learning_rate=s.lr,
        optim=OPTIMIZERS[s.optimizer],
        weight_decay=s.weight_decay,
        max_steps=s.max_steps,
        num_train_epochs=s.epochs,
        warmup_steps=s.warmup,
        lr_scheduler_type=s.lr_scheduler,
        max_grad_norm=s.max_grad_norm,
        logging_steps=s.logging_steps,
        save_strategy="steps",
        save_steps=s.save_steps,
        save_total_limit=s.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=s.eval_steps or s.save_steps,
        metric_for_best_model=s.best_metric if has_eval else None,
        greater_is_better=False,
        prediction_loss_only=True,
        report_to=_report_to(s),
        seed=s.seed,
        bf16=precision.bf16,
        fp16=precision.fp16,
        remove_unused_columns=False,         # examples are dataclasses, batched by our collator
        label_names=["labels"],
        dataloader_num_workers=s.num_workers,
        ddp_find_unused_parameters=False,    # the silent clip keeps every trainable part in use
        dataloader_pin_memory=torch.cuda.is_available(),
        # without a GPU, torchrun processes must be told to form a gloo group on the CPU
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if not torch.cuda.is_available()
        and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        include_num_input_tokens_seen="non_padding",
        average_tokens_across_devices=True,
        disable_tqdm=True,                   # RichProgress draws the bar
        deepspeed=s.deepspeed,
        fsdp=bool(s.fsdp),
        fsdp_config=s.fsdp,
        # non-reentrant checkpointing works with frozen inputs (LoRA) and DDP; named only when on
        # because the option is being renamed (activation_checkpointing) in transformers 5.x
        **({"gradient_checkpointing": True,
            "gradient_checkpointing_kwargs": {"use_reentrant": False}}
           if s.gradient_checkpointing else {}),
    )


def _report_to(s: Settings) -> list[str]:
    """The Trainer's loggers: wandb only offline unless the user chose otherwise (no network at
    run time), see :func:`check_report_to`."""
    if s.report_to == "wandb":
        os.environ.setdefault("WANDB_DIR", str(Path(s.out)))
        return ["wandb"]
    if s.report_to == "tensorboard" and _has_tensorboard():
        return ["tensorboard"]
    return []


def check_report_to(report_to: str, env) -> None:
    """Refuse a logger that cannot run here; ``env``: the environment."""
    if report_to != "wandb":
        return
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ValueError("report-to wandb needs the wandb package: pip install wandb") from None
    if "WANDB_MODE" not in env:
        raise ValueError("report-to wandb: set WANDB_MODE=offline (logs under OUT/wandb, upload "
                         "later with wandb sync) or WANDB_MODE=online to upload while training; "
                         "curate never goes online unasked")


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        console.print("[yellow]tensorboard is not installed: no TensorBoard logs[/]")
        return False
    return True


def step_rows(args: TrainingArguments) -> int:
    """Examples per optimizer step, over all micro-batches and processes."""
    return args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size


class StepPadded(Dataset):
    """``examples``, and past their end the weightless copies that
    :class:`.sampler.LengthGroupedSampler` fills an epoch's last step with."""

    def __init__(self, examples) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int):
        n = len(self.examples)
        return self.examples[i] if i < n else replace(self.examples[i - n], weightless=True)


SAFE_WEIGHTS = "model.safetensors"            # what save_pretrained writes: one file,
SAFE_INDEX = "model.safetensors.index.json"   # or shards named by this index


def load_checkpoint_weights(model, folder) -> None:
    """Copy the weights of the ``save_pretrained`` checkpoint in ``folder`` into ``model``'s own
    tensors, one tensor at a time: the extra memory is one tensor, not a second model.

    The file's keys are in the saved (hub) layout, which differs from the module layout for some
    families (Qwen2-Audio saves ``audio_tower.*`` for ``model.audio_tower.*``): each is renamed
    the way ``from_pretrained`` renames it, by the model's own conversion mapping
    (``get_model_conversion_mapping`` and ``rename_source_key`` of transformers'
    ``core_model_loading``), so no family's layout is written out here. Every entry of the
    model's state dict must be found, a tied weight through any of its names (Qwen3-ASR's
    lm_head is its embedding, saved once); a missing, unexpected or misshapen tensor raises
    ``ValueError`` naming them. Copying keeps each parameter's object, dtype, device and
    ``requires_grad`` (the recipe's freezing, :class:`.loss.LabelledLogits` hooks, an optimizer
    already holding them)."""
    import safetensors
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, \
        rename_source_key

    folder = Path(folder)
    if (folder / SAFE_INDEX).is_file():
        weight_map = json.loads((folder / SAFE_INDEX).read_text(encoding="utf-8"))["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        files = [SAFE_WEIGHTS]
    conversions = get_model_conversion_mapping(model)
    renamings = [c for c in conversions if isinstance(c, WeightRenaming)]
    converters = [c for c in conversions if isinstance(c, WeightConverter)]
    targets = model.state_dict(keep_vars=True)   # name → the model's own tensor (no copies)
    # tied weights: one tensor under several names; finding any of them loads all
    aliases: dict[int, set[str]] = {}
    for name, tensor in targets.items():
        aliases.setdefault(id(tensor), set()).add(name)
    loaded: set[int] = set()
    unexpected, misshapen = [], []
    with torch.no_grad():
        for file in files:
            with safetensors.safe_open(str(folder / file), framework="pt", device="cpu") as f:
                for key in f.keys():
                    name, pattern = rename_source_key(key, renamings, converters,
                                                      model.base_model_prefix, targets)
                    if name not in targets and key in targets:   # as from_pretrained retries
                        name, pattern = key, None
                    if pattern is not None:
                        raise ValueError(
                            f"{folder}: {key} needs transformers' weight conversion ({pattern}), "
                            "which reads several tensors at once; resume cannot stream it")
                    target = targets.get(name)
                    if target is None:
                        unexpected.append(key)
                        continue
                    tensor = f.get_tensor(key)
                    if tensor.shape != target.shape:
                        misshapen.append(f"{key} {tuple(tensor.shape)} for {name} "
                                         f"{tuple(target.shape)}")
                    else:
                        target.copy_(tensor)
                        loaded.add(id(target))
                    del tensor
    missing = sorted(n for i, names in aliases.items() if i not in loaded for n in names)
    if missing or unexpected or misshapen:
        raise ValueError(f"{folder} does not match the model being resumed: "
                         + "; ".join(f"{what} ({len(keys)}): {', '.join(keys[:20])}"
                                     for what, keys in (("missing", missing),
                                                        ("unexpected", unexpected),
                                                        ("wrong shape", misshapen)) if keys))


class AdapterTrainer(Trainer):
    """The HF Trainer with a length-grouped sampler and throughput in the logs."""

    def __init__(self, *args, lengths: list[int], grouped: bool = True, draw=None,
                 generation_eval=None, component_lrs: dict[str, float] | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lengths = lengths
        self.grouped = grouped
        self.draw = draw
        self.generation_eval = generation_eval   # an .evaluation.GenerationEval, or None
        self.component_lrs = component_lrs or {}  # component (model.component) → its lr
        self._mark: tuple[float, int, int] | None = None   # time, step, tokens at the last log

    def create_optimizer(self, model=None):
        """The Trainer's optimizer, with one parameter group per (learning rate, decay) when
        a component has its own learning rate."""
        if self.optimizer is not None or not self.component_lrs:
            return super().create_optimizer(model)
        from .model import family_of

        opt_model = self.model if model is None else model
        component = family_of(opt_model).component
        decay = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[float, bool], list] = {}
        for name, p in opt_model.named_parameters():
            if p.requires_grad:
                lr = self.component_lrs.get(component(name), self.args.learning_rate)
                groups.setdefault((lr, name in decay), []).append(p)
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(
            [{"params": params, "lr": lr, "weight_decay": self.args.weight_decay if d else 0.0}
             for (lr, d), params in groups.items()], **kwargs)
        return self.optimizer

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None,
                        ignore_keys=None, metric_key_prefix: str = "eval"):
        """The eval loss, then the CER of greedy generation on the eval set (every process
        generates the whole set, so all agree on the metric early stopping reads)."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only,
                                         ignore_keys, metric_key_prefix)
        if self.generation_eval is not None:
            with self.accelerator.autocast():   # the training compute dtype under mixed precision
                scores = self.generation_eval(self.model, self.state.global_step,
                                              main=self.is_world_process_zero())
            output.metrics.update({f"{metric_key_prefix}_{k}": v for k, v in scores.items()})
            self.model.train()
        return output

    def _get_train_sampler(self, train_dataset=None):
        return LengthGroupedSampler(self.lengths, step_rows(self.args), seed=self.args.seed,
                                    grouped=self.grouped, draw=self.draw)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """``save_pretrained`` writes the hub's key layout, which the Trainer's plain
        ``load_state_dict`` does not map back (it would silently resume from the initial
        weights): full checkpoints are streamed in by :func:`load_checkpoint_weights`.
        Adapters, DeepSpeed and FSDP checkpoints keep the Trainer's own loading."""
        model = model if model is not None else self.model
        folder = Path(resume_from_checkpoint)
        if hasattr(model, "peft_config") or self.is_fsdp_enabled or not any(
                (folder / name).is_file() for name in (SAFE_WEIGHTS, SAFE_INDEX)):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_checkpoint_weights(model, folder)

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self._mark is None:
            self._mark = (time.perf_counter(), self.state.global_step,
                          self.state.num_input_tokens_seen)
        return super().training_step(model, inputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._mark is not None:
            t0, step0, tokens0 = self._mark
            now = time.perf_counter()
            elapsed = max(now - t0, 1e-9)
            logs["samples_per_second"] = round(
                (self.state.global_step - step0) * step_rows(self.args) / elapsed, 3)
            logs["tokens_per_second"] = round(
                (self.state.num_input_tokens_seen - tokens0) / elapsed, 1)
            self._mark = (now, self.state.global_step, self.state.num_input_tokens_seen)
        super().log(logs, start_time)


class RichProgress(TrainerCallback):
    """A rich progress bar with loss, learning rate and throughput, on the main process only."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=console, transient=False)
        self.task = self.progress.add_task("train", total=state.max_steps,
                                           completed=state.global_step, info="")
        self.progress.start()

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.progress or not logs:
            return
        if "loss" in logs:
            info = (f"loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.2e}  "
                    f"{logs.get('samples_per_second', 0):.1f} samples/s  "
                    f"{logs.get('tokens_per_second', 0):.0f} tok/s")
            self.progress.update(self.task, info=info)
            self.progress.console.print(f"step {state.global_step}: {info}")
        elif "eval_loss" in logs:
            cer = f"  CER {logs['eval_cer']:.4f}" if logs.get("eval_cer") is not None else ""
            self.progress.console.print(
                f"step {state.global_step}: eval loss {logs['eval_loss']:.4f}{cer}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress:
            self.progress.stop()
            self.progress = None


class KeepBest(TrainerCallback):
    """Saves a checkpoint at every evaluation that improves ``args.metric_for_best_model``;
    the Trainer then records it as ``state.best_model_checkpoint`` and never rotates it away.
    On for --save-best and for --early-stop: the Trainer sets ``best_model_checkpoint`` only when
    a save happens at the best step, so without this it stays None or names an earlier best."""

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(args.metric_for_best_model)
        if value is not None and (state.best_metric is None or value < state.best_metric):
            control.should_save = True


class PromptsInCheckpoints(TrainerCallback):
    """Writes the run's prompts into every checkpoint, so ``curate infer --model
    OUT/checkpoints/checkpoint-N`` prompts as training did."""

    def __init__(self, prompts) -> None:
        self.prompts = prompts

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            self.prompts.save(folder)


def build_trainer(model, processor, train, collator, lengths, args: TrainingArguments, *,
                  grouped: bool = True, draw=None, eval_data=None, prompts=None,
                  generation_eval=None, settings: Settings | None = None) -> AdapterTrainer:
    """A trainer whose loss is :func:`.loss.token_loss` (the model must carry
    :class:`.loss.LabelledLogits` hooks). ``train``: the examples ``lengths`` and ``draw``
    (see :class:`.sampler.LengthGroupedSampler`) index. ``settings``: for --save-best,
    --early-stop and the per-component learning rates."""
    from transformers import EarlyStoppingCallback

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.accepts_loss_kwargs = False   # the loss is ours: never pass num_items_in_batch to forward
    base.config.use_cache = False
    callbacks = [RichProgress()]
    if prompts is not None:
        callbacks.append(PromptsInCheckpoints(prompts))
    if settings is not None and eval_data:
        if settings.save_best or settings.early_stop:   # early stop: keep what it stops at
            callbacks.append(KeepBest())
        if settings.early_stop:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=settings.early_stop))
    lrs = {} if settings is None else {
        part: lr for part, lr in (("encoder", settings.encoder_lr),
                                  ("projector", settings.projector_lr)) if lr is not None}
    trainer = AdapterTrainer(model=model, args=args, train_dataset=StepPadded(train),
                             eval_dataset=eval_data, data_collator=collator,
                             processing_class=processor, compute_loss_func=token_loss,
                             lengths=lengths, grouped=grouped, draw=draw,
                             generation_eval=generation_eval, component_lrs=lrs,
                             callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    return trainer


def save_final(trainer: AdapterTrainer, processor, prompts, out: Path, *, lora: bool,
               merge_lora: bool, record: dict) -> Path:
    """Write the trained model to ``out`` (see the module docstring); returns the folder that
    ``curate infer --model`` should load."""
    target = out / "adapter" if lora and merge_lora else out
    trainer.save_model(str(target))   # gathers ZeRO-3 / FSDP shards; writes on the main process
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        # explicit: save_model skips the processor for FSDP sharded state; with a merge,
        # merge_adapter copies both from the adapter folder into ``out``
        target.mkdir(parents=True, exist_ok=True)
        processor.save_pretrained(str(target))
        prompts.save(target)
        if target != out:
            merge_adapter(target, out)
        (out / "train.json").write_text(json.dumps(record, indent=2, ensure_ascii=False,
                                                   default=str) + "\n", encoding="utf-8")
    trainer.accelerator.wait_for_everyone()
    return out


def merge_adapter(adapter_dir: Path, out: Path) -> Path:
    """Merge a LoRA adapter folder into its base and write a full checkpoint to ``out``."""
    from .model import load
    from .prompts import PROMPTS_FILE

    model, processor = load(adapter_dir, dtype="auto")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    prompts = Path(adapter_dir) / PROMPTS_FILE
    if prompts.is_file() and Path(out).resolve() != Path(adapter_dir).resolve():
        (Path(out) / PROMPTS_FILE).write_text(prompts.read_text(encoding="utf-8"), encoding="utf-8")
    return out


def settings_record(s: Settings) -> dict:
    d = asdict(s)
    d["out"] = str(s.out)
    d["torch"] = torch.__version__
    return d
