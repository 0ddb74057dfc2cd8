"""Qwen2-Audio (2024): Whisper-large encoder, a linear projector, Qwen2-7B.

Base checkpoints take a raw prompt (``Detect the language and recognize the speech: <|zh|>``, as
in the official ASR evaluation); Instruct checkpoints ChatML turns. Since transformers 5.16 the
processor no longer adds ``<|audio_bos|>``/``<|audio_eos|>`` around a bare ``<|AUDIO|>``, so the
templates carry them.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration,
                          Qwen2AudioProcessor, WhisperFeatureExtractor)
from transformers.models.qwen2_audio.modeling_qwen2_audio import Qwen2AudioModel

from manifests.audio import TARGET_SR

from ..features import FRAMES_PER_SECOND
from ..tiny import train_tokenizer
from .base import (HYP, Parts, WhisperAudio, active, chat, generation_ids, template_words,
                   tiny_text_config)

AUDIO = "<|audio_bos|><|AUDIO|><|audio_eos|>"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>",
                  "<|audio_eos|>", "<|zh|>"]

BASE = {
    "asr": AUDIO + "Detect the language and recognize the speech: <|zh|>",
    "correct": AUDIO + "First-pass transcript: " + HYP
               + "\nCorrect the transcript of the speech: <|zh|>",
    "correct_text": "First-pass transcript: " + HYP + "\nCorrect the transcript: <|zh|>",
}
INSTRUCT = {
    "asr": chat("Audio 1: " + AUDIO + "\nTranscribe the Mandarin speech exactly. "
                "Reply with the transcript only."),
    "correct": chat("Audio 1: " + AUDIO + "\nA first-pass recogniser heard: " + HYP
                    + "\nCorrect its errors using the audio. Reply with the transcript only."),
    "correct_text": chat("A first-pass recogniser heard: " + HYP
                         + "\nCorrect its errors. Reply with the transcript only."),
}

TINY_AUDIO = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2,
              "encoder_ffn_dim": 128}
TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2}


class Qwen2Audio(WhisperAudio):
    name = "qwen2_audio"
    title = "Qwen2-Audio"
    model_types = ("qwen2_audio",)
    model_class = Qwen2AudioForConditionalGeneration
    core_class = Qwen2AudioModel
    audio_markup = AUDIO
    audio_token = "<|AUDIO|>"
    styles = {"base": BASE, "instruct": INSTRUCT}
    audio_modules = ("audio_tower", "multi_modal_projector")
    unquantized = ("audio_tower", "multi_modal_projector")
    min_transformers = ((5, 16), "earlier versions add <|audio_bos|>/<|audio_eos|> around the "
                                 "audio themselves, so the prompts would carry them twice")

    def default_style(self, folder):
        """Instruct when the checkpoint's chat template renders audio in ChatML turns (the
        Instruct model's does; the base model ships none), else base. The folder's name is not
        looked at: an HF cache snapshot or ``ckpt/sft1`` says nothing."""
        from ..prompts import chat_template

        template = chat_template(folder)
        if template and "<|im_start|>" in template and self.audio_token in template:
            return "instruct", "the checkpoint's chat template takes audio in chat turns"
        if template:
            return "base", "the checkpoint's chat template has no audio turns"
        return "base", "the checkpoint has no chat template"

    def _parts(self, model):
        core = model.model
        tower = active(core.audio_tower)
        return Parts(encoder=tower, layers=tower.layers, final_norm=tower.layer_norm,
                     projector=[active(core.multi_modal_projector)], llm=core.language_model,
                     lm_head=model.lm_head, always_frozen=[tower.embed_positions])

    def build_tiny(self, out_dir, texts, window=30, seed=0, *, audio=None, text=None,
                   vocab_size=None):
        """A tiny random Qwen2-Audio (≈0.3M parameters). ``audio`` / ``text`` override encoder /
        LLM sizes and ``vocab_size`` pads the embedding (the GPU benchmark builds a larger
        random model the same way)."""
        out_dir = Path(out_dir)
        tokenizer = train_tokenizer([*texts, *template_words(self.styles)], SPECIAL_TOKENS)
        features = WhisperFeatureExtractor(feature_size=128, sampling_rate=TARGET_SR,
                                           chunk_length=window, return_attention_mask=True)
        processor = Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer)
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
        config = Qwen2AudioConfig(
            audio_config={"model_type": "qwen2_audio_encoder", **TINY_AUDIO, **(audio or {}),
                          "num_mel_bins": 128,
                          "max_source_positions": window * FRAMES_PER_SECOND // 2},
            text_config=tiny_text_config({"model_type": "qwen2", **TINY_TEXT}, text, tokenizer,
                                         vocab_size, ids, tied=False),
            audio_token_index=ids["<|AUDIO|>"])
        torch.manual_seed(seed)
        model = Qwen2AudioForConditionalGeneration(config)
        generation_ids(model, ids["<|im_end|>"], ids["<|endoftext|>"])
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
        # the processor class writes its default (the Instruct model's) chat template; the tiny
        # model stands for the base checkpoint, which ships none (see default_style)
        (out_dir / "chat_template.jinja").unlink(missing_ok=True)
        return out_dir


FAMILY = Qwen2Audio()
