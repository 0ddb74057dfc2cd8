"""What every model family provides, and the parts they share.

A family is one audio-LLM architecture (Qwen2-Audio, Qwen2.5-Omni's Thinker, Qwen3-ASR). Its
module says everything that differs between them: the model class (imported directly, never
through an Auto class), the feature extractor and the audio argument names, how many audio tokens
a clip becomes, the prompts for each task, how an answer is read back, the longest clip the
encoder takes, which modules are encoder / projector / LLM for the freezing recipes, and how its
tiny random model is built. The rest of ``train_adapter`` asks the family and never names an
architecture.
"""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from manifests.audio import TARGET_SR

from ..features import HOP   # the same mel hop in all three feature extractors

if TYPE_CHECKING:   # prompts reads this module, and stays light (no torch)
    import torch

ANSWER_END = "<|im_end|>"  # every family's answers end the ChatML turn
HYP = "{hyp}"
TASK_NAMES = ("asr", "correct", "correct_text")


class ModelError(ValueError):
    """A ``--model`` that cannot be loaded; the message says why."""


@dataclass(frozen=True)
class Parts:
    """Module handles the freezing recipes work on (see :mod:`..recipe`)."""

    encoder: torch.nn.Module          # the audio tower
    layers: torch.nn.ModuleList       # its transformer layers
    final_norm: torch.nn.Module       # its LayerNorm after the last layer
    projector: list[torch.nn.Module]  # audio → LLM width
    llm: torch.nn.Module              # the language model (decoder stack)
    lm_head: torch.nn.Module
    always_frozen: list[torch.nn.Module]   # trained by no recipe (positions, vision tower)


class Family(ABC):
    """One architecture. Subclasses set the class attributes and the abstract methods."""

    name: str                   # the registry key: --model tiny:NAME
    title: str                  # for people: tables, the infer sidecar, the README
    model_types: tuple[str, ...]  # config.json model_type values this family loads
    model_class: type
    core_class: type            # the inner model whose last hidden state feeds lm_head
    audio_markup: str           # how a prompt template writes "the audio goes here"
    audio_token: str            # the one token of audio_markup the processor expands
    mask_key: str               # the forward argument holding the mel frames' mask
    styles: dict[str, dict[str, str]]   # prompt style → task → template
    # modules PEFT saves in full beside a LoRA adapter when the audio path trains, and modules
    # QLoRA keeps out of 4-bit (besides lm_head)
    audio_modules: tuple[str, ...]
    unquantized: tuple[str, ...]
    min_transformers: tuple[tuple[int, ...], str] = ((5, 0), "")

    # --- checkpoints ---

    def load_model(self, folder: Path, config: dict, **kwargs):
        """The model from a local folder whose ``config.json`` is ``config``."""
        return self.model_class.from_pretrained(str(folder), local_files_only=True, **kwargs)

    @abstractmethod
    def feature_extractor(self, folder: Path):
        """The checkpoint's feature extractor."""

    def tokenizer(self, folder: Path):
        from transformers import Qwen2Tokenizer
        return Qwen2Tokenizer.from_pretrained(str(folder), local_files_only=True)

    @abstractmethod
    def build_tiny(self, out_dir: Path, texts, window: int, seed: int, **sizes) -> Path:
        """Write the family's tiny random model (see :mod:`..tiny`) to ``out_dir``."""

    # --- audio ---

    @abstractmethod
    def features(self, extractor, audios: list) -> tuple[dict, list[int]]:
        """(model inputs for ``audios``, mel frames of each clip)."""

    @abstractmethod
    def frames(self, samples: int, extractor) -> int:
        """Mel frames the extractor marks valid for a clip of ``samples``."""

    @abstractmethod
    def tokens_for_frames(self, frames: int) -> int:
        """Audio tokens the LLM sees for ``frames`` mel frames."""

    def audio_tokens(self, seconds: float, extractor) -> int:
        return self.tokens_for_frames(self.frames(int(round(seconds * TARGET_SR)), extractor))

    def max_seconds(self, extractor) -> float:
        """The longest clip the encoder sees whole; longer ones are set aside, never cut."""
        return extractor.n_samples / extractor.sampling_rate

    # --- prompts and answers ---

    def default_style(self, folder) -> tuple[str, str]:
        """(style, why) when --prompt-style is auto."""
        style = next(iter(self.styles))
        return style, f"the {self.title} prompt format"

    def parse(self, text: str) -> str:
        """The transcript in a decoded answer."""
        return text

    def check_prompt(self, task: str, template: str, where: str) -> str | None:
        """Why ``template`` cannot be the ``task`` prompt, or None."""
        n_audio = template.count(self.audio_token)
        wanted = 0 if task == "correct_text" else 1
        if n_audio != wanted:
            return (f"the {task} prompt must contain {'no' if wanted == 0 else 'exactly one'} "
                    f"{self.audio_token}")
        if n_audio and self.audio_markup not in template:
            return f"write the audio as {self.audio_markup} in the {task} prompt"
        return None

    # --- modules ---

    def parts(self, model) -> Parts:
        """The module handles of ``model``; a checkpoint whose modules are not where the family
        keeps them (another transformers layout) is an error naming the missing one."""
        try:
            return self._parts(model)
        except AttributeError as e:
            raise ModelError(f"this {self.title} model has no module {e.name!r} where "
                             f"{self.title}'s recipes look for it ({type(model).__name__}, "
                             "transformers layout changed?): nothing can be frozen or "
                             "trained by name") from None

    @abstractmethod
    def _parts(self, model) -> Parts:
        """The module handles, without the check of :meth:`parts`."""

    def component(self, name: str) -> str:
        """Which part a parameter belongs to, by its (possibly wrapped) name."""
        if "lora_" in name:
            return "LoRA"
        if ".visual." in name or name.startswith("visual."):
            return "vision"
        if "multi_modal_projector" in name:
            return "projector"
        if "audio_tower" in name:
            return "encoder"
        return "LLM"

    def check_transformers(self) -> None:
        import transformers

        version = tuple(int(p) for p in re.findall(r"\d+", transformers.__version__)[:2])
        need, why = self.min_transformers
        if version < need:
            raise ModelError(f"{self.title} needs transformers >= {'.'.join(map(str, need))} "
                             f"({why}); this is {transformers.__version__}")


def active(module):
    """The module that runs: a LoRA run's trained copy when PEFT saves ``module`` in full."""
    saved = getattr(module, "modules_to_save", None)
    return saved["default"] if saved is not None else module


class WhisperAudio(Family):
    """A family whose encoder is Whisper's (Qwen2-Audio, Qwen2.5-Omni): the Whisper feature
    extractor padding every clip to its window, a stride-2 conv, then a stride-2 pooling."""

    mask_key = "feature_attention_mask"

    def feature_extractor(self, folder: Path):
        from transformers import WhisperFeatureExtractor
        return WhisperFeatureExtractor.from_pretrained(str(folder), local_files_only=True)

    def features(self, extractor, audios):
        out = extractor(audios, sampling_rate=TARGET_SR, padding="max_length",
                        return_attention_mask=True, return_tensors="pt")
        mask = out["attention_mask"]
        return ({"input_features": out["input_features"], self.mask_key: mask},
                mask.sum(-1).tolist())

    def frames(self, samples, extractor):
        # the extractor marks ceil(samples / hop) frames, at most the window's
        return min(-(-samples // HOP), extractor.nb_max_frames)

    def tokens_for_frames(self, frames):
        return (((frames - 1) // 2 + 1) - 2) // 2 + 1


def read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{folder} has no config.json (expected a model checkpoint folder)") \
            from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{folder}/config.json cannot be read ({e})") from None


def chat(user: str, system: str = "You are a helpful assistant.") -> str:
    """One user turn in ChatML, ending where the assistant's answer starts."""
    return (f"<|im_start|>system\n{system}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def template_words(styles: dict[str, dict[str, str]]) -> list[str]:
    """The prompts' wording without special tokens, for a tiny tokenizer to learn."""
    return [re.sub(r"<\|[^|]*\|>|<[a-z_]+>|\{hyp\}", " ", t)
            for templates in styles.values() for t in templates.values()]


def tiny_text_config(tiny: dict, text: dict | None, tokenizer, vocab_size: int | None,
                     ids: dict[str, int], *, tied: bool) -> dict:
    """A tiny model's LLM config: the family's ``tiny`` sizes, with the caller's ``text``
    overrides, a vocabulary that covers the tokenizer (or ``vocab_size``, if larger), and turns
    that end at <|im_end|>, padded with <|endoftext|>."""
    return {**tiny, **(text or {}), "vocab_size": max(len(tokenizer), vocab_size or 0),
            "max_position_embeddings": 4096, "tie_word_embeddings": tied,
            "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
            "bos_token_id": None}


def generation_ids(model, eos: int, pad: int) -> None:
    """Greedy decoding stops at the end of the turn or the text; no bos is prepended."""
    model.generation_config.eos_token_id = [eos, pad]
    model.generation_config.pad_token_id = pad
    model.generation_config.bos_token_id = None
