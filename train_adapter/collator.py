"""Batches built per step: audio decoded, features extracted and text tokenised here, so nothing
is precomputed in memory.

Each row is ``prompt + answer``. The processor expands the prompt's audio token to the clip's
audio tokens (:mod:`.processor`); the answer (``text + <|im_end|>``) is tokenised on its own and
appended, so the label boundary is exact whatever the tokenizer would merge across it. Labels are
-100 everywhere but on the answer. Training pads on the right; generation pads on the left (its
prompts end together).
"""
from __future__ import annotations

import numpy as np
import torch

from manifests.audio import TARGET_SR, AudioError, load

from .data import Example
from .prompts import ANSWER_END, Prompts

IGNORE = -100
SILENT_SECONDS = 0.1


class Collator:
    """``examples → model inputs``.

    ``generation``: prompts only, left-padded, no labels. Otherwise labels and ``loss_mask`` (the
    positions whose next token is labelled, for :mod:`.loss`) are added. ``silent_audio``: a batch
    without any audio gets an extra row holding 0.1 s of silence and no labels, so the encoder
    runs on every rank — needed when it or the projector trains (else DDP fails: no trainable
    parameter in the graph) and whenever weights are sharded (ZeRO-3/FSDP gather them
    collectively and would hang). Its own row keeps it out of the other rows' attention.
    A ``weightless`` example (filling an epoch's last step) gets its prompt and no answer.
    """

    def __init__(self, processor, prompts: Prompts, *, generation: bool = False,
                 silent_audio: bool = False) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.prompts = prompts
        self.generation = generation
        self.silent_audio = silent_audio
        self.pad_id = self.tokenizer.pad_token_id

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        prompts, audios = [], []
        for ex in examples:
            prompts.append(self.prompts.render(ex.task, ex.hyp))
            if ex.audio is not None:
                audios.append(_read_audio(ex))
        # None: a row trained on nothing (a weightless copy, the silent clip)
        answers = [] if self.generation else [None if ex.weightless else ex.text + ANSWER_END
                                              for ex in examples]
        if self.silent_audio and not audios and not self.generation:
            prompts.append(self.processor.family.audio_markup)
            audios.append(np.zeros(int(SILENT_SECONDS * TARGET_SR), dtype=np.float32))
            answers.append(None)
        prompt_ids, features = self.processor(prompts, audios)
        if self.generation:
            batch = self._pad(prompt_ids, [[IGNORE] * len(p) for p in prompt_ids], left=True)
            del batch["labels"]
        else:
            answer_ids = self.tokenizer([a or "" for a in answers],
                                        add_special_tokens=False)["input_ids"]
            rows, labels = [], []
            for p, a, answer in zip(prompt_ids, answer_ids, answers):
                a = a if answer is not None else []
                rows.append(p + a)
                labels.append([IGNORE] * len(p) + a)
            batch = self._pad(rows, labels, left=False)
            batch["loss_mask"] = batch["labels"][:, 1:] != IGNORE
        batch.update(features)   # the family's audio inputs (none without audio)
        return batch

    def _pad(self, rows: list[list[int]], labels: list[list[int]], left: bool) -> dict:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        lab = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, (r, lb) in enumerate(zip(rows, labels)):
            span = slice(width - len(r), width) if left else slice(0, len(r))
            ids[i, span] = torch.tensor(r)
            mask[i, span] = 1
            lab[i, span] = torch.tensor(lb)
        return {"input_ids": ids, "attention_mask": mask, "labels": lab}


def _read_audio(ex: Example) -> np.ndarray:
    try:
        return load(ex.audio, ex.offset, ex.duration)
    except AudioError as e:
        raise AudioError(e.reason, f"record {ex.id}: {e.detail}") from None


def token_lengths(examples: list[Example], prompts: Prompts, processor) -> list[int]:
    """LLM row lengths as :class:`Collator` builds them, with audio tokens counted from the
    duration, so batching can be planned without decoding any audio."""
    tokenizer = processor.tokenizer
    rendered = tokenizer([prompts.render(ex.task, ex.hyp) for ex in examples],
                         add_special_tokens=False)["input_ids"]
    answers = tokenizer([ex.text + ANSWER_END for ex in examples],
                        add_special_tokens=False)["input_ids"]
    return [len(p) + len(a)
            + (processor.audio_tokens(ex.duration) - 1 if ex.audio is not None else 0)
            for ex, p, a in zip(examples, rendered, answers)]
