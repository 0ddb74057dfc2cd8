"""Tiny random checkpoints of every family, for the CPU and the tests.

A tiny model is saved with ``save_pretrained`` and loaded back through the family's real loading
code, so the smoke run and the tests exercise the path a real checkpoint takes. Its tokenizer is a
byte-level BPE trained on the run's own texts, with Qwen2's pre-tokenizer and the special tokens
the family's processor looks up.
"""
from __future__ import annotations

import json

TINY_VOCAB = 2000


def train_tokenizer(texts, special: list[str], named: dict[str, str] | None = None, *,
                    plain: list[str] = (), eos: str = "<|im_end|>", pad: str = "<|endoftext|>"):
    """A Qwen2 tokenizer trained on ``texts``.

    ``special``: whole special tokens (skipped when decoding); ``named``: attribute → token, the
    ones a processor reads by name (``tokenizer.audio_token`` ...), each also in ``special``;
    ``plain``: added tokens that stay in decoded text (Qwen3-ASR's ``<asr_text>`` marker)."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, special_tokens=[*special, *plain],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts, trainer)
    trained = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    named = named or {}
    extra = named if named else [t for t in special if t not in (eos, pad)]
    tokenizer = Qwen2Tokenizer(vocab=trained["vocab"], merges=merges, eos_token=eos,
                               pad_token=pad, unk_token=None, extra_special_tokens=extra)
    if named:   # the special tokens without a name a processor looks up
        tokenizer.add_special_tokens({"additional_special_tokens": [
            t for t in special if t not in (eos, pad, *named.values())]},
            replace_extra_special_tokens=False)
    if plain:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain])
    return tokenizer
