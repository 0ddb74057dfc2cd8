"""The model-family registry: one module per family says what differs (see :mod:`.base`).

A checkpoint's family is read from its ``config.json`` (``model_type``), never from its folder
name; ``--model tiny:NAME`` builds the tiny random model of family NAME. The family modules
import torch and transformers, so they are imported on first use: reading prompts and data stays
light.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from .base import Family, ModelError, read_config

DEFAULT_NAME = "qwen2_audio"   # what plain ``--model tiny`` builds


@cache
def families() -> dict[str, Family]:
    from .qwen2_5_omni import FAMILY as QWEN2_5_OMNI
    from .qwen2_audio import FAMILY as QWEN2_AUDIO
    from .qwen3_asr import FAMILY as QWEN3_ASR
    return {f.name: f for f in (QWEN2_AUDIO, QWEN2_5_OMNI, QWEN3_ASR)}


def by_name(name: str) -> Family:
    try:
        return families()[name]
    except KeyError:
        raise ModelError(f"unknown model family {name!r} (known: {', '.join(families())})") \
            from None


def of_config(config: dict, where) -> Family:
    model_type = config.get("model_type")
    for family in families().values():
        if model_type in family.model_types:
            return family
    known = ", ".join(t for f in families().values() for t in f.model_types)
    raise ModelError(f"{where}: model_type {model_type!r} is not a family curate trains "
                     f"(known: {known})")


def of_folder(folder) -> Family:
    """The family of the checkpoint in ``folder``."""
    folder = Path(folder)
    return of_config(read_config(folder), folder / "config.json")


__all__ = ["DEFAULT_NAME", "Family", "ModelError", "by_name", "families", "of_config",
           "of_folder"]
