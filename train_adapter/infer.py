"""Batched greedy generation into a ``name<TAB>text`` file that can be resumed.

Examples are sorted by duration so a batch shares its prompt length (little left padding). Each
row has its own new-token budget, from its own clip's duration (or hypothesis), so a row's output
never depends on its batch-mates. A row whose output starts looping (one n-gram repeated) is
stopped early and the loop collapsed to one copy. Results are appended to
``OUT.partial`` batch by batch; a rerun skips the names already there, and the finished file is
written atomically in input order.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from manifests.textfile import write_name_text

from .collator import Collator
from .data import Example

LOOP_MAX_NGRAM = 8     # longest repeated unit (tokens) the guard looks for
LOOP_MIN_TOKENS = 16   # a loop must cover at least this many tokens ...
LOOP_MIN_REPEATS = 4   # ... and repeat its unit at least this often


def loop_unit(ids: list[int]) -> int:
    """Length of the n-gram that ``ids`` ends repeating (a decoding loop), or 0 when none."""
    for n in range(1, LOOP_MAX_NGRAM + 1):
        repeats = max(LOOP_MIN_REPEATS, math.ceil(LOOP_MIN_TOKENS / n))
        span = n * repeats
        if len(ids) < span:
            break
        tail = ids[-span:]
        if all(tail[i] == tail[i % n] for i in range(span)):
            return n
    return 0


def trim_loop(ids: list[int]) -> list[int]:
    """Collapse a looping tail to a single copy of its unit."""
    n = loop_unit(ids)
    if not n:
        return ids
    unit = ids[-n:]
    end = len(ids)
    while end - n >= n and ids[end - 2 * n:end - n] == unit:
        end -= n
    return ids[:end]


class RepetitionGuard(StoppingCriteria):
    """Stops each row on its own as soon as its generated tokens end in a loop."""

    def __init__(self, prompt_length: int) -> None:
        self.start = prompt_length

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        return torch.tensor([loop_unit(row[self.start:].tolist()) > 0 for row in input_ids],
                            dtype=torch.bool, device=input_ids.device)


class RowBudget(StoppingCriteria):
    """Stops each row once it has generated its own ``budgets[row]`` new tokens."""

    def __init__(self, prompt_length: int, budgets: list[int]) -> None:
        self.start = prompt_length
        self.budgets = torch.tensor(budgets)

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        return (input_ids.shape[1] - self.start) >= self.budgets.to(input_ids.device)


def new_token_budgets(batch: list[Example], tokenizer, tokens_per_second: float) -> list[int]:
    """Each row's budget: enough new tokens for its clip's speech, or twice its hypothesis to
    correct if that is more."""
    hyps = tokenizer([ex.hyp or "" for ex in batch], add_special_tokens=False)["input_ids"]
    return [max(math.ceil(ex.duration * tokens_per_second), 2 * len(hyp) if ex.hyp else 0) + 8
            for ex, hyp in zip(batch, hyps)]


@dataclass
class InferStats:
    resumed: int = 0         # already in OUT.partial from an earlier, interrupted run
    written: int = 0
    audio_seconds: float = 0.0
    wall: float = 0.0


def pending(examples: list[Example], out: Path) -> list[Example]:
    """The examples an interrupted run into ``out`` has not written yet."""
    return _resume(examples, _partial_path(out))[1]


def transcribe(model, processor, prompts, examples: list[Example], out: Path, *,
               batch_size: int = 8, tokens_per_second: float = 8.0,
               on_batch=None) -> InferStats:
    """Generate a text for every example and write ``out`` (``name<TAB>text``).

    ``on_batch(audio_seconds)`` is called after each batch (for a progress bar)."""
    stats = InferStats()
    partial = _partial_path(out)
    done, todo = _resume(examples, partial)
    stats.resumed = len(examples) - len(todo)
    todo.sort(key=lambda ex: -ex.duration)
    collator = Collator(processor, prompts, generation=True)
    tokenizer = processor.tokenizer
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    device = next(model.parameters()).device
    model.eval()
    t0 = time.perf_counter()
    with open(partial, "a", encoding="utf-8") as sink, torch.inference_mode():
        for i in range(0, len(todo), batch_size):
            batch = todo[i:i + batch_size]
            inputs = {k: v.to(device) for k, v in collator(batch).items()}
            if "input_features" in inputs:
                inputs["input_features"] = inputs["input_features"].to(model.dtype)
            prompt_length = inputs["input_ids"].shape[1]
            budgets = new_token_budgets(batch, tokenizer, tokens_per_second)
            generated = model.generate(
                **inputs, do_sample=False, num_beams=1, max_new_tokens=max(budgets),
                eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([RepetitionGuard(prompt_length),
                                                        RowBudget(prompt_length, budgets)]))
            lines = []
            for ex, row in zip(batch, generated[:, prompt_length:].tolist()):
                text = _decode(row, stop_ids, processor)
                done[ex.id] = text
                lines.append(f"{ex.id}\t{text}\n")
            sink.write("".join(lines))
            sink.flush()
            os.fsync(sink.fileno())
            seconds = sum(ex.duration for ex in batch)
            stats.audio_seconds += seconds
            if on_batch:
                on_batch(seconds)
    write_name_text(out, [(ex.id, done[ex.id]) for ex in examples])
    partial.unlink()
    stats.written = len(examples)
    stats.wall = time.perf_counter() - t0
    return stats


def _decode(row: list[int], stop_ids: list[int], processor) -> str:
    for j, tok in enumerate(row):
        if tok in stop_ids:
            row = row[:j]
            break
    text = processor.family.parse(
        processor.tokenizer.decode(trim_loop(row), skip_special_tokens=True))
    return " ".join(text.split())   # no tab or newline may reach the name<TAB>text file


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _resume(examples: list[Example], partial: Path) -> tuple[dict[str, str], list[Example]]:
    """(names → texts already in ``partial``, the examples not among them, in input order)."""
    done = _read_partial(partial)
    return done, [ex for ex in examples if ex.id not in done]


def _read_partial(partial: Path) -> dict[str, str]:
    """Names already generated by an interrupted run; a torn last line is dropped (redone)."""
    if not partial.is_file():
        return {}
    raw = partial.read_text(encoding="utf-8", errors="replace")
    if raw and not raw.endswith("\n"):
        raw = raw[:raw.rfind("\n") + 1]
        partial.write_text(raw, encoding="utf-8")
    done = {}
    for line in raw.splitlines():
        name, tab, text = line.partition("\t")
        if tab:
            done[name] = text
    return done
