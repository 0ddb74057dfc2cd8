"""Word timestamps for a known transcript: a local Qwen3-ASR forced aligner, and a tiny random one.

The forced aligner (``Qwen/Qwen3-ForcedAligner-0.6B-hf``) reads the audio and the words of the
transcript, two ``<timestamp>`` markers after each word, and classifies every marker into one of
``num_labels`` time bins of ``timestamp_segment_time`` ms (its start and end). The processor's
``decode_forced_alignment`` takes the argmax of each marker and makes the sequence monotonic (the
longest increasing subsequence is kept; the other markers are snapped or interpolated).

On top of the processor this module gives what a cutter needs to trust a timestamp and to cut the
text: how sure the model was of each marker (its softmax probability) — a marker the monotonic fix
had to move counts as not known at all — and each word's span of characters in the ORIGINAL text
(the processor's word list drops punctuation and splits Han characters one by one), so that a
window's text is exactly the characters aligned inside it.

Everything loads from a local folder (``local_files_only``): nothing downloads.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manifests.audio import TARGET_SR as SR   # the rate the aligner's feature extractor takes


class AlignerError(ValueError):
    """An alignment that cannot be made. ``reason`` names why, for a rejected record, when it is
    the record's doing (too long, no word); None when it is not (a folder that does not load)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Word:
    """One aligned word: the processor's word, its time, and its characters in the text."""

    text: str          # as the processor split it (punctuation dropped)
    start: float       # seconds
    end: float
    char_start: int    # [char_start, char_end) of the original text: the word, and the
    char_end: int      # punctuation and spaces after it up to the next word
    confidence: float  # mean of its two markers' probabilities (a moved marker counts 0)


@dataclass(frozen=True)
class Alignment:
    text: str
    duration: float     # seconds of audio aligned
    words: list[Word]
    confidence: float   # mean over all markers of the probability (a moved marker counts 0)
    mean_prob: float    # mean over all markers of the argmax probability, moved or not
    moved: float        # share of markers the monotonic fix moved


class Aligner:
    """A loaded forced aligner; :meth:`align` aligns one recording."""

    def __init__(self, model, processor) -> None:
        self.model = model
        self.processor = processor
        self.segment_ms = float(processor.timestamp_segment_time)
        self.num_labels = int(model.config.num_labels)
        # The last time bin is the latest time the head can name: longer audio cannot be aligned.
        self.max_seconds = self.num_labels * self.segment_ms / 1000.0

    def align(self, audio: np.ndarray, text: str) -> Alignment:
        """Align ``text`` to ``audio`` (16 kHz mono float32). Raises :class:`AlignerError` with
        reason ``too_long_to_align`` or ``nothing_to_align``."""
        import torch

        duration = len(audio) / SR
        if duration > self.max_seconds + 1e-6:
            raise AlignerError(f"{duration:.1f} s of audio is longer than the aligner can time "
                               f"({self.num_labels} bins x {self.segment_ms:g} ms = "
                               f"{self.max_seconds:g} s)", "too_long_to_align")
        inputs, word_lists = self.processor.prepare_forced_aligner_inputs(
            audio=np.asarray(audio, dtype=np.float32), transcript=text)
        words = word_lists[0]
        if not words:
            raise AlignerError("the text has no word to align (letters, digits or Han)",
                               "nothing_to_align")
        spans = char_spans(text, words)
        inputs = inputs.to(self.model.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float()
        ts_id = int(self.model.config.timestamp_token_id)
        mask = inputs["input_ids"][0] == ts_id
        if int(mask.sum()) != 2 * len(words):
            raise AlignerError(f"the aligner's input holds {int(mask.sum())} timestamp markers "
                               f"for {len(words)} words (the checkpoint's chat template must put "
                               "two after each word)")
        aligned = self.processor.decode_forced_alignment(
            logits, inputs["input_ids"], word_lists, timestamp_token_id=ts_id,
            timestamp_segment_time=self.segment_ms)[0]
        # The processor's argmax, with its probability, before and after its monotonic fix.
        top, label = torch.softmax(logits[0][mask], dim=-1).max(dim=-1)
        top = top.cpu().numpy().astype(float)
        raw = np.round(label.cpu().numpy() * self.segment_ms / 1000.0, 3)
        fixed = np.array([t for w in aligned for t in (w["start_time"], w["end_time"])])
        moved = np.abs(fixed - raw) > 1e-6
        # A moved marker's time was made up by the fix, not read off the audio: it counts 0.
        trusted = np.where(moved, 0.0, top)
        out = []
        for k, (w, (a, b)) in enumerate(zip(aligned, spans)):
            start = min(max(float(w["start_time"]), 0.0), duration)
            end = min(max(float(w["end_time"]), start), duration)
            out.append(Word(w["text"], start, end, a, b,
                            float(trusted[2 * k:2 * k + 2].mean())))
        return Alignment(text, duration, out, float(trusted.mean()), float(top.mean()),
                         float(moved.mean()))


def _alnum(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LN"


def char_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Each word's ``[start, end)`` in ``text``: from its first character to the next word's
    first character (the last word to the end, the first from 0), so the spans tile the text.

    The words are the processor's: the text's letters, digits, apostrophes and Han characters in
    order, with everything else dropped, so each is found as a subsequence of the text; a letter
    or digit skipped on the way would mean the split is not the one assumed here, and raises.
    """
    firsts, pos = [], 0
    for word in words:
        first = None
        for ch in word:
            found = text.find(ch, pos)
            if found < 0 or any(_alnum(c) for c in text[pos:found]):
                raise AlignerError(f"cannot find the aligner's word {word!r} in the text at "
                                   f"character {pos}")
            first = found if first is None else first
            pos = found + 1
        firsts.append(first)
    if not firsts:
        return []
    firsts[0] = 0
    return list(zip(firsts, [*firsts[1:], len(text)]))


# --- loading: once per process per folder (the stage runs in worker processes) ---

_LOADED: dict[str, Aligner] = {}


def load_aligner(path) -> Aligner:
    """The forced aligner in the local folder ``path`` (float32, eval mode), loaded on first use
    in this process and kept for the next records."""
    key = str(Path(path).resolve())
    if key not in _LOADED:
        from transformers import Qwen3ASRForTokenClassification, Qwen3ASRProcessor
        from transformers.utils import logging as hf_logging

        if not Path(key).is_dir():
            raise AlignerError(f"aligner folder {path} does not exist")
        # Its weight-loading bar would break into the run's own progress display.
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            processor = Qwen3ASRProcessor.from_pretrained(key, local_files_only=True)
            model = Qwen3ASRForTokenClassification.from_pretrained(
                key, local_files_only=True, dtype="float32")
        except (OSError, ValueError) as e:
            raise AlignerError(f"cannot load a Qwen3-ASR forced aligner from {path}: {e}") from e
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        model.eval()
        _LOADED[key] = Aligner(model, processor)
    return _LOADED[key]


# --- a tiny random aligner for the CPU and the tests ---

# The aligner's request as the real checkpoint's template renders it: no chat turns, the audio,
# then every word followed by its start and end markers.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'audio' -%}<|audio_start|><|audio_pad|><|audio_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}<timestamp><timestamp>"
    "{%- endif -%}{%- endfor -%}{%- endfor -%}")
TINY_SEGMENT_MS = 80


def build_tiny_aligner(out_dir, texts, seed: int = 0, max_seconds: float = 120.0) -> Path:
    """A tiny random Qwen3-ASR forced aligner saved in ``out_dir`` (model, processor, template),
    loadable by :func:`load_aligner`; its tokenizer is trained on ``texts``. It times audio up to
    ``max_seconds`` (bins of 80 ms, like the real one). Its weights are random, so its timestamps
    say nothing of the audio (most fall in one bin) and its confidence is near 0: it exercises
    the real loading, input building and decoding code, not the alignment quality."""
    import torch
    from transformers import (
        Qwen3ASRConfig,
        Qwen3ASREncoderConfig,
        Qwen3ASRFeatureExtractor,
        Qwen3ASRForTokenClassification,
        Qwen3ASRProcessor,
    )

    from .families.qwen3_asr import ASR_TEXT, NAMED, SPECIAL_TOKENS
    from .tiny import train_tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(list(texts), SPECIAL_TOKENS, NAMED, plain=[ASR_TEXT])
    hidden = 64
    audio = Qwen3ASREncoderConfig(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2,
                                  encoder_ffn_dim=64, d_model=32, downsample_hidden_size=8,
                                  output_dim=hidden)
    text = {"model_type": "qwen3", "vocab_size": len(tokenizer), "hidden_size": hidden,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 32, "max_position_embeddings": 8192,
            "tie_word_embeddings": True}
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen3ASRConfig(audio_config=audio, text_config=text,
                            audio_token_id=ids("<|audio_pad|>"),
                            timestamp_token_id=ids("<timestamp>"),
                            pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=tokenizer.eos_token_id,
                            num_labels=round(max_seconds * 1000 / TINY_SEGMENT_MS))
    torch.manual_seed(seed)
    model = Qwen3ASRForTokenClassification(config).eval()
    model.save_pretrained(out)
    processor = Qwen3ASRProcessor(feature_extractor=Qwen3ASRFeatureExtractor(),
                                  tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
                                  timestamp_segment_time=TINY_SEGMENT_MS)
    processor.save_pretrained(out)
    return out
