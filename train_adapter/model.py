"""Loading a local checkpoint of any family, and building the tiny random ones used on the CPU.

A checkpoint's family comes from its ``config.json`` (:mod:`.families`). The tiny model is saved
with ``save_pretrained`` and loaded back through :func:`load`, exactly like a real checkpoint, so
the smoke run and the tests exercise the real code path. Nothing here downloads anything: every
load is ``local_files_only``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .families import (DEFAULT_NAME, REGISTRY, Family, ModelError, by_name, of_config,
                       of_folder)
from .families.base import read_config
from .processor import AudioProcessor

__all__ = ["ModelError", "Tiny", "parse_tiny", "build_tiny", "load_processor", "load",
           "family_of", "base_folder"]


class Tiny:
    """``--model tiny[:FAMILY][:SECONDS]``: a tiny random model of FAMILY (default Qwen2-Audio)
    with a SECONDS encoder window (default 30 s, like the real models; 8 s makes fast CI runs)."""

    def __init__(self, family: Family, window: int) -> None:
        self.family = family
        self.window = window


def parse_tiny(spec: str) -> Tiny | None:
    """The tiny model ``spec`` names, or None when it names a checkpoint folder."""
    head, *rest = spec.split(":")
    if head != "tiny":
        return None
    family, window = by_name(DEFAULT_NAME), 30
    if rest and not rest[0].isdigit():
        family = by_name(rest.pop(0))
    if rest:
        value = rest.pop(0)
        if not value.isdigit() or not 1 <= int(value) <= 30:
            raise ModelError(f"--model {spec}: the tiny window must be whole seconds in 1..30")
        window = int(value)
    if rest:
        raise ModelError(f"--model {spec}: expected tiny[:FAMILY][:SECONDS], FAMILY one of "
                         f"{', '.join(REGISTRY)}")
    return Tiny(family, window)


def build_tiny(out_dir, texts, window: int = 30, seed: int = 0, *, family: Family | None = None,
               **sizes) -> Path:
    """Write a tiny random model of ``family`` (default Qwen2-Audio) with a tokenizer trained on
    ``texts``."""
    family = family or by_name(DEFAULT_NAME)
    return family.build_tiny(Path(out_dir), list(texts), window=window, seed=seed, **sizes)


def base_folder(path) -> Path:
    """The folder holding the weights' config: ``path`` itself, or a LoRA adapter's base."""
    folder = _model_dir(path)
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        return Path(json.loads(adapter.read_text())["base_model_name_or_path"])
    return folder


def load_processor(path) -> AudioProcessor:
    folder = _model_dir(path)
    family = of_folder(base_folder(folder))
    family.check_transformers()
    return AudioProcessor(family, folder)


def load(path, *, dtype: torch.dtype | str | None = None, quantization_config=None,
         processor: AudioProcessor | None = None):
    """(model, processor) from a local folder: a full checkpoint, or a LoRA adapter folder whose
    ``adapter_config.json`` names its base (merged into the base in memory). ``dtype``: a torch
    dtype, ``"auto"`` (as saved) or None (float32). ``processor``: one already loaded from this
    folder (:func:`load_processor`), returned as is instead of being read again."""
    folder = _model_dir(path)
    base = base_folder(folder)
    config = read_config(base)
    family = of_config(config, base / "config.json")
    family.check_transformers()
    # a 4-bit model is placed on this process's GPU at load time (the Trainer cannot move it)
    placement = {"device_map": {"": torch.cuda.current_device()}} if quantization_config else {}
    model = family.load_model(base, config, dtype=dtype or torch.float32,
                              quantization_config=quantization_config, **placement)
    if (folder / "adapter_config.json").is_file():
        model = _merge_in_fp32(model, folder)
    return model, processor or AudioProcessor(family, folder)


def family_of(model) -> Family:
    """The family of a loaded model (under any PEFT or DDP wrapping)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(inner, "module", inner)
    return of_config({"model_type": inner.config.model_type}, type(inner).__name__)


def _merge_in_fp32(model, adapter_dir: Path):
    """``model`` with the LoRA adapter in ``adapter_dir`` merged in float32, then cast back to
    the dtype it was loaded in: W + ΔW rounded once. Merged in bf16, ΔW is first rounded to
    bf16 itself and the sum rounded again; a 4-bit model is merged as it is."""
    from peft import PeftModel

    dtype = model.dtype
    quantized = getattr(model, "is_quantized", False)
    if not quantized:
        model = model.float()
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return model if quantized else model.to(dtype)


def _model_dir(path) -> Path:
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        families = ", ".join(title for title, _ in REGISTRY.values())
        raise ModelError(f"no model folder at {path} (curate never downloads weights: pass a local "
                         f"checkpoint folder ({families}), one written by curate train, or "
                         f"'tiny[:FAMILY]')")
    return folder
