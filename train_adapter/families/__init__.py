"""The model-family registry: one module per family says what differs (see :mod:`.base`).

A checkpoint's family is read from its ``config.json`` (``model_type``), never from its folder
name; ``--model tiny:NAME`` builds the tiny random model of family NAME. A family's module imports
its transformers classes, so it is imported only when that family is used: reading prompts and
data stays light, and a transformers without one family's classes still runs the others.
"""
from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from .base import Family, ModelError, read_config

# name → (title, the config.json model_type values it loads); its module is .NAME
REGISTRY = {
    "qwen2_audio": ("Qwen2-Audio", ("qwen2_audio",)),
    "qwen2_5_omni": ("Qwen2.5-Omni (Thinker)", ("qwen2_5_omni_thinker", "qwen2_5_omni")),
    "qwen3_asr": ("Qwen3-ASR", ("qwen3_asr",)),
}
DEFAULT_NAME = "qwen2_audio"   # what plain ``--model tiny`` builds


@cache
def by_name(name: str) -> Family:
    if name not in REGISTRY:
        raise ModelError(f"unknown model family {name!r} (known: {', '.join(REGISTRY)})")
    try:
        family = importlib.import_module(f"{__name__}.{name}").FAMILY
    except ImportError as e:
        import transformers
        raise ModelError(f"{REGISTRY[name][0]} needs a transformers that has its classes "
                         f"(this is {transformers.__version__}: {e}); pip install -U "
                         "'transformers<6'") from None
    assert (family.title, family.model_types) == REGISTRY[name], name   # one definition
    return family


def of_config(config: dict, where) -> Family:
    model_type = config.get("model_type")
    for name, (_, model_types) in REGISTRY.items():
        if model_type in model_types:
            return by_name(name)
    known = ", ".join(t for _, types in REGISTRY.values() for t in types)
    raise ModelError(f"{where}: model_type {model_type!r} is not a family curate trains "
                     f"(known: {known})")


def of_folder(folder) -> Family:
    """The family of the checkpoint in ``folder``."""
    folder = Path(folder)
    return of_config(read_config(folder), folder / "config.json")


__all__ = ["DEFAULT_NAME", "REGISTRY", "Family", "ModelError", "by_name", "of_config",
           "of_folder"]
