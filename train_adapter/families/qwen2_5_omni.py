"""Qwen2.5-Omni's Thinker (2025): audio and text in, text out; the Talker (speech out) is not
loaded. A full Omni checkpoint (``model_type`` qwen2_5_omni) is read for its Thinker only: its
``thinker.*`` weights are mapped onto the Thinker class and the Talker's are never materialised.

The Thinker's audio encoder ends in its own projection (``audio_tower.proj``), which is what the
recipes call the projector. Its vision tower is never trained here. The prompts are ChatML with the
audio inside the user turn, as its chat template renders it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import (Qwen2_5OmniConfig, Qwen2_5OmniThinkerConfig,
                          Qwen2_5OmniThinkerForConditionalGeneration, WhisperFeatureExtractor)
from transformers.models.qwen2_5_omni.modeling_qwen2_5_omni import Qwen2_5OmniThinkerModel

from manifests.audio import TARGET_SR

from ..features import FRAMES_PER_SECOND
from ..tiny import train_tokenizer
from .base import (HYP, Parts, WhisperAudio, active, chat, generation_ids, template_words,
                   tiny_text_config)

AUDIO = "<|audio_bos|><|AUDIO|><|audio_eos|>"
NAMED = {"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>",
         "audio_eos_token": "<|audio_eos|>", "image_token": "<|IMAGE|>",
         "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
         "vision_eos_token": "<|vision_eos|>"}
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *NAMED.values()]

CHAT = {
    "asr": chat(AUDIO + "Transcribe the Mandarin speech exactly. Reply with the transcript only."),
    "correct": chat(AUDIO + "A first-pass recogniser heard: " + HYP
                    + "\nCorrect its errors using the audio. Reply with the transcript only."),
    "correct_text": chat("A first-pass recogniser heard: " + HYP
                         + "\nCorrect its errors. Reply with the transcript only."),
}

TINY_AUDIO = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2,
              "encoder_ffn_dim": 128, "n_window": 100}
TINY_VISION = {"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
               "fullatt_block_indexes": [0]}
TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2,
             # multimodal RoPE: the sections split head_dim / 2 = 8 between time, height, width
             "rope_scaling": {"type": "default", "rope_type": "default",
                              "mrope_section": [2, 3, 3]}}


class Qwen25Omni(WhisperAudio):
    name = "qwen2_5_omni"
    title = "Qwen2.5-Omni (Thinker)"
    model_types = ("qwen2_5_omni_thinker", "qwen2_5_omni")
    model_class = Qwen2_5OmniThinkerForConditionalGeneration
    core_class = Qwen2_5OmniThinkerModel
    audio_markup = AUDIO
    audio_token = "<|AUDIO|>"
    styles = {"instruct": CHAT}
    audio_modules = ("audio_tower",)
    unquantized = ("audio_tower", "visual")
    min_transformers = ((5, 0), "the Thinker class")

    def load_model(self, folder, config, **kwargs):
        if config.get("model_type") == "qwen2_5_omni":
            thinker = Qwen2_5OmniConfig.from_pretrained(str(folder),
                                                        local_files_only=True).thinker_config
            return self.model_class.from_pretrained(str(folder), config=thinker,
                                                    key_mapping={r"^thinker\.": ""},
                                                    local_files_only=True, **kwargs)
        return super().load_model(folder, config, **kwargs)

    def component(self, name):
        # the encoder's own last projection (also inside PEFT's saved copy of the tower)
        if "audio_tower" in name and ".proj." in name:
            return "projector"
        return super().component(name)

    def _parts(self, model):
        core = model.model
        tower = active(core.audio_tower)
        return Parts(encoder=tower, layers=tower.layers, final_norm=tower.ln_post,
                     projector=[tower.proj], llm=core.language_model, lm_head=model.lm_head,
                     always_frozen=[core.visual])

    def build_tiny(self, out_dir, texts, window=30, seed=0, *, audio=None, vision=None,
                   text=None, vocab_size=None):
        """A tiny random Thinker (≈0.5M parameters, a one-block vision tower included).
        ``audio`` / ``vision`` / ``text`` override encoder / vision tower / LLM sizes and
        ``vocab_size`` pads the embedding (bench/shape7b.py builds real widths the same way)."""
        out_dir = Path(out_dir)
        tokenizer = train_tokenizer([*texts, *template_words(self.styles)], SPECIAL_TOKENS,
                                    NAMED)
        features = WhisperFeatureExtractor(feature_size=128, sampling_rate=TARGET_SR,
                                           chunk_length=window, return_attention_mask=True)
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
        config = Qwen2_5OmniThinkerConfig(
            audio_config={**TINY_AUDIO, "output_dim": 64, **(audio or {}), "num_mel_bins": 128,
                          "max_source_positions": window * FRAMES_PER_SECOND // 2},
            vision_config={**TINY_VISION, "out_hidden_size": 64, **(vision or {})},
            text_config=tiny_text_config(TINY_TEXT, text, tokenizer, vocab_size, ids,
                                         tied=False),
            audio_token_index=ids["<|AUDIO|>"], image_token_index=ids["<|IMAGE|>"],
            video_token_index=ids["<|VIDEO|>"], audio_start_token_id=ids["<|audio_bos|>"],
            audio_end_token_id=ids["<|audio_eos|>"],
            vision_start_token_id=ids["<|vision_bos|>"],
            vision_end_token_id=ids["<|vision_eos|>"], user_token_id=ids["<|im_start|>"],
            pad_token_id=ids["<|endoftext|>"])
        torch.manual_seed(seed)
        model = Qwen2_5OmniThinkerForConditionalGeneration(config)
        generation_ids(model, ids["<|im_end|>"], ids["<|endoftext|>"])
        model.save_pretrained(out_dir)
        # the Omni processor also wants image and video processors (torchvision); a Thinker
        # trained on audio needs the tokenizer and the feature extractor only
        tokenizer.save_pretrained(out_dir)
        features.save_pretrained(out_dir)
        return out_dir


FAMILY = Qwen25Omni()
