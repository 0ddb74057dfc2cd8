"""Qwen3-ASR (2026): the Qwen3-Omni audio encoder (1 s chunks, windowed attention), a two-layer
projector, Qwen3. Its answers read ``language Chinese<asr_text>TRANSCRIPT``; the prompts prefill
``language Chinese<asr_text>`` (how its processor forces a language), so the model writes the
transcript only, and :meth:`Qwen3ASR.parse` also reads an answer that names the language itself.
The Base1 hypothesis to correct goes where Qwen3-ASR takes context: the system turn.

The encoder takes audio of any length in 1 s chunks; curate's 30 s limit for training still
applies (``data.MAX_SECONDS``).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import (
    Qwen3ASRConfig,
    Qwen3ASRFeatureExtractor,
    Qwen3ASRForConditionalGeneration,
    Qwen3ASRProcessor,
)
from transformers.models.qwen3_asr.modeling_qwen3_asr import Qwen3ASRModel

from manifests.audio import TARGET_SR

from ..tiny import train_tokenizer
from .base import (HOP, HYP, Family, Parts, active, generation_ids, template_words,
                   tiny_text_config)

AUDIO = "<|audio_start|><|audio_pad|><|audio_end|>"
ASR_TEXT = "<asr_text>"
NAMED = {"audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
         "audio_eos_token": "<|audio_end|>"}
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *NAMED.values(), "<timestamp>"]
LANGUAGE = "Chinese"
TOKENS_PER_CHUNK = 13   # encoder positions per full 1 s chunk (three stride-2 convolutions)


def _turns(system: str, user: str) -> str:
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\nlanguage {LANGUAGE}{ASR_TEXT}")


CHAT = {
    "asr": _turns("", AUDIO),
    "correct": _turns(HYP, AUDIO),
    "correct_text": _turns("", "Correct the errors of this transcript: " + HYP),
}

TINY_AUDIO = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2,
              "encoder_ffn_dim": 128, "downsample_hidden_size": 32, "output_dim": 64}
TINY_TEXT = {"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "head_dim": 16}


class Qwen3ASR(Family):
    name = "qwen3_asr"
    title = "Qwen3-ASR"
    model_types = ("qwen3_asr",)
    model_class = Qwen3ASRForConditionalGeneration
    core_class = Qwen3ASRModel
    audio_markup = AUDIO
    audio_token = "<|audio_pad|>"
    mask_key = "input_features_mask"
    styles = {"chat": CHAT}
    audio_modules = ("audio_tower", "multi_modal_projector")
    unquantized = ("audio_tower", "multi_modal_projector")
    min_transformers = ((5, 0), "the Qwen3-ASR classes")

    def load_model(self, folder, config, **kwargs):
        if "thinker_config" in config:
            from .base import ModelError
            raise ModelError(f"{folder} is a Qwen3-ASR checkpoint in its original (qwen-asr "
                             "package) layout; load the transformers one (Qwen/Qwen3-ASR-*-hf) "
                             "or convert it with transformers' convert_qwen3_asr script")
        return super().load_model(folder, config, **kwargs)

    def feature_extractor(self, folder: Path):
        return Qwen3ASRFeatureExtractor.from_pretrained(str(folder), local_files_only=True)

    def features(self, extractor, audios):
        out = extractor(audios, sampling_rate=TARGET_SR, padding=True, truncation=False,
                        return_attention_mask=True, n_window=extractor.n_window,
                        return_tensors="pt")
        mask = out["attention_mask"]
        return ({"input_features": out["input_features"], self.mask_key: mask},
                mask.sum(-1).tolist())

    def frames(self, samples, extractor):
        # clips under min_length (0.5 s) are padded up to it and that padding counts as audio
        return max(samples, extractor.min_length) // HOP

    def tokens_for_frames(self, frames):
        chunk = 100   # mel frames per encoder chunk (2 × n_window)
        rest = frames % chunk
        for _ in range(3):
            rest = (rest - 1) // 2 + 1 if rest > 0 else 0
        return rest + frames // chunk * TOKENS_PER_CHUNK

    def max_seconds(self, extractor):
        return math.inf

    def parse(self, text):
        head, marker, tail = text.partition(ASR_TEXT)
        return tail.strip() if marker else text

    def _parts(self, model):
        core = model.model
        tower = active(core.audio_tower)
        return Parts(encoder=tower, layers=tower.layers, final_norm=tower.ln_post,
                     projector=[active(core.multi_modal_projector)], llm=core.language_model,
                     lm_head=model.lm_head, always_frozen=[])

    def build_tiny(self, out_dir, texts, window=30, seed=0, *, audio=None, text=None,
                   vocab_size=None):
        """A tiny random Qwen3-ASR (≈0.3M parameters; lm_head tied to the embedding, as in the
        released 0.6B and 1.7B models). ``audio`` / ``text`` override encoder / LLM sizes and
        ``vocab_size`` pads the embedding (bench/shape7b.py builds real widths the same way)."""
        out_dir = Path(out_dir)
        tokenizer = train_tokenizer([*texts, *template_words(self.styles), "language Chinese"],
                                    SPECIAL_TOKENS, NAMED, plain=[ASR_TEXT])
        features = Qwen3ASRFeatureExtractor(chunk_length=window)
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
        config = Qwen3ASRConfig(
            audio_config={**TINY_AUDIO, **(audio or {}), "num_mel_bins": 128},
            text_config=tiny_text_config(TINY_TEXT, text, tokenizer, vocab_size, ids,
                                         tied=True),
            audio_token_id=ids["<|audio_pad|>"], timestamp_token_id=ids["<timestamp>"],
            pad_token_id=ids["<|endoftext|>"],
            eos_token_id=[ids["<|endoftext|>"], ids["<|im_end|>"]], tie_word_embeddings=True)
        torch.manual_seed(seed)
        model = Qwen3ASRForConditionalGeneration(config)
        generation_ids(model, ids["<|im_end|>"], ids["<|endoftext|>"])
        model.save_pretrained(out_dir)
        Qwen3ASRProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(out_dir)
        return out_dir


FAMILY = Qwen3ASR()
