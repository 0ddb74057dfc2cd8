"""Loading a local Qwen2-Audio checkpoint, and building the tiny random one used on the CPU.

The tiny model is saved with ``save_pretrained`` and loaded back through :func:`load`, exactly
like a real checkpoint, so the smoke run and the tests exercise the real code path. Nothing here
downloads anything: every load is ``local_files_only``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration,
                          Qwen2AudioProcessor, Qwen2Tokenizer, WhisperFeatureExtractor)

from manifests.audio import TARGET_SR

from .prompts import BASE, INSTRUCT

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>",
                  "<|audio_eos|>", "<|zh|>"]
TINY_VOCAB = 2000
FRAMES_PER_SECOND = 100   # mel frames (hop 160 at 16 kHz)


class ModelError(ValueError):
    """A ``--model`` that cannot be loaded; the message says why."""


def tiny_window(spec: str) -> int | None:
    """``tiny`` → a 30 s encoder window (like the real model); ``tiny:8`` → 8 s (fast CI);
    anything else → None (a checkpoint folder)."""
    if spec == "tiny":
        return 30
    if spec.startswith("tiny:"):
        value = spec[5:]
        if not value.isdigit() or not 1 <= int(value) <= 30:
            raise ModelError(f"--model {spec}: the tiny window must be whole seconds in 1..30")
        return int(value)
    return None


def train_tokenizer(texts) -> Qwen2Tokenizer:
    """A byte-level BPE trained on ``texts`` with Qwen2's pre-tokenizer and special tokens."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts, trainer)
    trained = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return Qwen2Tokenizer(vocab=trained["vocab"], merges=merges, eos_token="<|im_end|>",
                          pad_token="<|endoftext|>", unk_token=None,
                          extra_special_tokens=[t for t in SPECIAL_TOKENS
                                                if t not in ("<|endoftext|>", "<|im_end|>")])


TINY_AUDIO = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2,
              "encoder_ffn_dim": 128}
TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2}


def build_tiny(out_dir, texts, window: int = 30, seed: int = 0, *, audio: dict | None = None,
               text: dict | None = None, vocab_size: int | None = None) -> Path:
    """Write a tiny random Qwen2-Audio (≈0.3M parameters) with a tokenizer trained on ``texts``.

    ``audio`` / ``text`` override encoder / LLM sizes and ``vocab_size`` pads the embedding (the
    GPU benchmark builds a larger random model the same way)."""
    out_dir = Path(out_dir)
    # prompt wording too, without the special tokens (they are whole tokens already)
    prompt_text = [re.sub(r"<\|[^|]*\|>|\{hyp\}", " ", t)
                   for t in (*BASE.values(), *INSTRUCT.values())]
    tokenizer = train_tokenizer([*texts, *prompt_text])
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=TARGET_SR,
                                       chunk_length=window, return_attention_mask=True)
    processor = Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = Qwen2AudioConfig(
        audio_config={"model_type": "qwen2_audio_encoder", **TINY_AUDIO, **(audio or {}),
                      "num_mel_bins": 128,
                      "max_source_positions": window * FRAMES_PER_SECOND // 2},
        text_config={"model_type": "qwen2", **TINY_TEXT, **(text or {}),
                     "vocab_size": max(len(tokenizer), vocab_size or 0),
                     "max_position_embeddings": 4096, "tie_word_embeddings": False,
                     "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
                     "bos_token_id": None},
        audio_token_index=ids["<|AUDIO|>"])
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = None
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    # the processor class writes its default (the Instruct model's) chat template; the tiny
    # model stands for the base checkpoint, which ships none (see prompts.style_for)
    (out_dir / "chat_template.jinja").unlink(missing_ok=True)
    return out_dir


def load_processor(path) -> Qwen2AudioProcessor:
    return Qwen2AudioProcessor.from_pretrained(str(_model_dir(path)), local_files_only=True)


def load(path, *, dtype: torch.dtype | str | None = None, quantization_config=None,
         processor: Qwen2AudioProcessor | None = None):
    """(model, processor) from a local folder: a full checkpoint, or a LoRA adapter folder whose
    ``adapter_config.json`` names its base (merged into the base in memory). ``dtype``: a torch
    dtype, ``"auto"`` (as saved) or None (float32). ``processor``: one already loaded from this
    folder (:func:`load_processor`), returned as is instead of being read again."""
    folder = _model_dir(path)
    adapter = folder / "adapter_config.json"
    base = Path(json.loads(adapter.read_text())["base_model_name_or_path"]) if adapter.is_file() \
        else folder
    if not (base / "config.json").is_file():
        raise ModelError(f"{base} has no config.json (expected a Qwen2-Audio checkpoint folder)")
    # a 4-bit model is placed on this process's GPU at load time (the Trainer cannot move it)
    placement = {"device_map": {"": torch.cuda.current_device()}} if quantization_config else {}
    model = Qwen2AudioForConditionalGeneration.from_pretrained(
        str(base), dtype=dtype or torch.float32, local_files_only=True,
        quantization_config=quantization_config, **placement)
    if adapter.is_file():
        model = _merge_in_fp32(model, folder)
    if processor is None:
        processor = Qwen2AudioProcessor.from_pretrained(str(folder), local_files_only=True)
    return model, processor


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
        raise ModelError(f"no model folder at {path} (curate never downloads weights: pass a local "
                         f"Qwen2-Audio folder, a checkpoint written by curate train, or 'tiny')")
    return folder


def window_seconds(processor) -> float:
    """The encoder window: the feature extractor pads or truncates every clip to this length."""
    fe = processor.feature_extractor
    return fe.n_samples / fe.sampling_rate


def audio_tokens(seconds: float) -> int:
    """Audio tokens the processor expands ``<|AUDIO|>`` to for a clip of ``seconds``."""
    frames = int(round(seconds * TARGET_SR)) // 160
    return (((frames - 1) // 2 + 1) - 2) // 2 + 1


def component(name: str) -> str:
    """Which part of Qwen2-Audio a parameter belongs to, by its (possibly wrapped) name."""
    if "lora_" in name:
        return "LoRA"
    if "audio_tower" in name:
        return "encoder"
    if "multi_modal_projector" in name:
        return "projector"
    return "LLM"
