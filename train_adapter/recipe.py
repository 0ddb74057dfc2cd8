"""What is trainable in each stage.

* ``align``: audio encoder + projector trainable, LLM frozen (teach the model the domain audio).
* ``sft``: LLM trainable (fully, or LoRA adapters on its linear layers), encoder + projector frozen.
* ``full``: encoder + projector + LLM (fully, or LoRA on the LLM).

``--encoder-layers last:N`` trains only the last N encoder layers plus the encoder's final
LayerNorm (it normalises their output); ``--encoder-attn-only`` trains only the self-attention of
the chosen layers (no LayerNorm). The conv front end and the positional embedding stay frozen in
those partial modes; what a family never trains (Qwen2-Audio's ``embed_positions``, Qwen2.5-Omni's
vision tower) is always frozen.

Parameters are selected through the module handles each family gives
(:class:`.families.base.Parts`), never by name prefixes (the module names changed in transformers
5.10). LoRA targets are anchored on ``language_model`` so they never hit the encoder's attention,
which uses the same projection names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .model import family_of

STAGES = ("align", "sft", "full")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
COMPONENTS = ("encoder", "projector", "LLM", "vision", "LoRA")


class RecipeError(ValueError):
    """A combination of stage options that cannot be trained; the message says why."""


@dataclass(frozen=True)
class Lora:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05


def parse_lora(spec: str) -> Lora:
    """``r=16,alpha=32,dropout=0.05`` (any subset; an empty string gives the defaults)."""
    values = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in ("r", "alpha", "dropout"):
            raise RecipeError(f"--lora {spec}: expected r=INT,alpha=INT,dropout=FLOAT, "
                              f"got {item!r}")
        try:
            values[key] = float(value) if key == "dropout" else int(value)
        except ValueError:
            raise RecipeError(f"--lora {spec}: {key} must be a number, got {value!r}") from None
    lora = Lora(**values)
    if lora.r < 1 or lora.alpha < 1 or not 0 <= lora.dropout < 1:
        raise RecipeError(f"--lora {spec}: need r >= 1, alpha >= 1 and 0 <= dropout < 1")
    return lora


def parse_lora_targets(spec: str) -> tuple[str, ...]:
    """``q_proj,v_proj``: names of the LLM's linear layers (checked against the model in
    :func:`apply`)."""
    names = tuple(dict.fromkeys(filter(None, (s.strip() for s in spec.split(",")))))
    if not names:
        raise RecipeError("--lora-targets: expected a comma list of layer names, "
                          "e.g. q_proj,v_proj")
    return names


def lora_pattern(targets: tuple[str, ...]) -> str:
    """A PEFT target regex for ``targets`` inside the LLM only."""
    return r".*language_model\..*\.(" + "|".join(re.escape(t) for t in targets) + ")"


def llm_linear_names(model) -> set[str]:
    """The last name part of every linear layer of the LLM (what --lora-targets may name)."""
    return {name.rsplit(".", 1)[-1]
            for name, m in family_of(model).parts(model).llm.named_modules()
            if isinstance(m, torch.nn.Linear)}


def parse_encoder_layers(spec: str) -> int | None:
    """``all`` → None; ``last:N`` → N."""
    if spec == "all":
        return None
    head, _, n = spec.partition(":")
    if head != "last" or not n.isdigit() or int(n) < 1:
        raise RecipeError(f"--encoder-layers {spec}: expected all or last:N with N >= 1")
    return int(n)


@dataclass(frozen=True)
class Recipe:
    stage: str
    lora: Lora | None = None
    qlora: bool = False
    encoder_layers: int | None = None     # None: every layer
    encoder_attn_only: bool = False
    lora_targets: tuple[str, ...] = LORA_TARGETS

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise RecipeError(f"--stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.stage == "align" and (self.lora or self.qlora):
            raise RecipeError("LoRA/QLoRA adapt the LLM, which stage align keeps frozen; "
                              "use --stage sft or full")
        if self.stage == "sft" and (self.encoder_layers is not None or self.encoder_attn_only):
            raise RecipeError("stage sft keeps the encoder frozen; --encoder-layers and "
                              "--encoder-attn-only apply to stages align and full")
        if self.qlora and self.lora is None:
            object.__setattr__(self, "lora", Lora())
        if self.lora_targets != LORA_TARGETS and self.lora is None:
            raise RecipeError("--lora-targets chooses where LoRA adapters go: add --lora")

    @property
    def trains_audio(self) -> bool:
        return self.stage in ("align", "full")

    @property
    def trains_llm(self) -> bool:
        return self.stage in ("sft", "full")


def qlora_config(compute_dtype: torch.dtype, family):
    """The 4-bit quantisation of the LLM for QLoRA: CUDA and bitsandbytes only. Its matmuls run
    in ``compute_dtype`` (the run's :class:`.precision.Precision` compute dtype)."""
    if not torch.cuda.is_available():
        raise RecipeError("--qlora loads the LLM in 4-bit with bitsandbytes, which needs a CUDA "
                          "GPU, and none is visible here; use --lora (the same adapters on an "
                          "unquantised LLM) instead")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise RecipeError("--qlora needs the bitsandbytes package: pip install bitsandbytes") \
            from None
    from transformers import BitsAndBytesConfig
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype,
                              llm_int8_skip_modules=[*family.unquantized, "lm_head"])


def apply(model, recipe: Recipe):
    """Freeze and unfreeze ``model`` (any family's) for ``recipe``; returns the model to train
    (a PeftModel when LoRA is used)."""
    family = family_of(model)
    parts = family.parts(model)
    if recipe.encoder_layers is not None and recipe.encoder_layers > len(parts.layers):
        raise RecipeError(f"--encoder-layers last:{recipe.encoder_layers}: the encoder has only "
                          f"{len(parts.layers)} layers")
    if recipe.qlora:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.requires_grad_(False)
    if recipe.trains_audio:
        _train_audio(parts, recipe)
    if recipe.trains_llm and recipe.lora is None:
        parts.llm.requires_grad_(True)
        parts.lm_head.requires_grad_(True)
    if recipe.lora is None:
        return model
    valid = llm_linear_names(model)
    unknown = [t for t in recipe.lora_targets if t not in valid]
    if unknown:
        raise RecipeError(f"--lora-targets: {', '.join(unknown)} is not a linear layer of the "
                          f"LLM; valid: {', '.join(sorted(valid))}")

    from peft import LoraConfig, get_peft_model
    config = LoraConfig(r=recipe.lora.r, lora_alpha=recipe.lora.alpha,
                        lora_dropout=recipe.lora.dropout,
                        target_modules=lora_pattern(recipe.lora_targets),
                        # trained encoder/projector weights must travel with the adapter
                        modules_to_save=list(family.audio_modules)
                        if recipe.trains_audio else None)
    peft_model = get_peft_model(model, config)
    if recipe.trains_audio:
        # PEFT makes the saved copies wholly trainable; narrow them to the recipe again, on the
        # handles of the copies (the saved wrapper's active module)
        _train_audio(family.parts(peft_model.get_base_model()), recipe)
    return peft_model


def _train_audio(parts, recipe: Recipe) -> None:
    """The encoder as far as the recipe says, the projector whole, and what the family never
    trains frozen (the projector may sit inside the encoder: Qwen2.5-Omni's)."""
    parts.encoder.requires_grad_(False)
    if recipe.encoder_layers is None and not recipe.encoder_attn_only:
        parts.encoder.requires_grad_(True)
    else:
        layers = parts.layers if recipe.encoder_layers is None \
            else parts.layers[-recipe.encoder_layers:]
        for layer in layers:
            (layer.self_attn if recipe.encoder_attn_only else layer).requires_grad_(True)
        if not recipe.encoder_attn_only:
            parts.final_norm.requires_grad_(True)
    for module in parts.projector:
        module.requires_grad_(True)
    for module in parts.always_frozen:
        module.requires_grad_(False)


def trainable_table(model) -> list[tuple[str, int, int]]:
    """(component, parameters, trainable parameters) for encoder, projector, LLM and LoRA."""
    total = dict.fromkeys(COMPONENTS, 0)
    trainable = dict.fromkeys(COMPONENTS, 0)
    seen = set()
    family = family_of(model)
    for name, p in model.named_parameters():
        # PEFT keeps the untouched original of a module it saves in full: not counted twice
        if id(p) in seen or ".original_module." in name:
            continue
        seen.add(id(p))
        part = family.component(name)
        n = _numel(p)
        total[part] += n
        if p.requires_grad:
            trainable[part] += n
    return [(c, total[c], trainable[c]) for c in COMPONENTS if total[c]]


def _numel(p) -> int:
    """A parameter's full size: ZeRO-3 partitions it, leaving an empty tensor (numel 0) and
    the size in ``ds_numel``."""
    return p.ds_numel if hasattr(p, "ds_numel") else p.numel()


def audio_path_trainable(model) -> bool:
    """True when any encoder or projector parameter trains (audio-less batches then need the
    silent clip, see :class:`.collator.Collator`)."""
    family = family_of(model)
    return any(p.requires_grad and family.component(n) in ("encoder", "projector")
               for n, p in model.named_parameters())
