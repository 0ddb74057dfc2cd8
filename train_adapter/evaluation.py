"""CER while training: greedy generation on the eval set with the inference code
(:func:`.infer.transcribe`, the decoding ``curate infer`` uses), scored by a scorer the caller
gives (``curate train`` passes ``curate cer``'s), so ``eval_cer`` at step N is what ``curate
cer`` reports for ``curate infer --model OUT/checkpoints/checkpoint-N`` on the same set.

The hypotheses of each evaluation stay in ``OUT/eval/step-N.tsv`` for a closer look.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data import Example
from .infer import transcribe

# (hypothesis file, Base1 hypotheses by id for --task correct or None) → metrics without the
# eval_ prefix: cer, and with Base1 hypotheses fix_rate and break_rate, counted over the ids
# Base1 has only (with --task mix the asr-task records have no Base1 hypothesis)
Scorer = Callable[[Path, "dict[str, str] | None"], "dict[str, float | None]"]


@dataclass
class GenerationEval:
    examples: list[Example]
    processor: object
    prompts: object
    folder: Path                  # OUT/eval
    score: Scorer
    batch_size: int = 8           # curate infer's defaults: the same decoding
    tokens_per_second: float = 8.0

    def __call__(self, model, step: int, main: bool = True) -> dict[str, float | None]:
        """Generate and score; only the main process keeps its file (all generate alike)."""
        if main:
            self.folder.mkdir(parents=True, exist_ok=True)
            return self._run(model, self.folder / f"step-{step}.tsv")
        with tempfile.TemporaryDirectory() as tmp:
            return self._run(model, Path(tmp) / f"step-{step}.tsv")

    def _run(self, model, out: Path) -> dict[str, float | None]:
        for stale in (out, out.with_name(out.name + ".partial")):   # a resumed run redoes it
            stale.unlink(missing_ok=True)
        transcribe(model, self.processor, self.prompts, self.examples, out,
                   batch_size=self.batch_size, tokens_per_second=self.tokens_per_second)
        base1 = {ex.id: ex.hyp for ex in self.examples
                 if ex.task == "correct" and ex.hyp is not None}
        return self.score(out, base1 or None)
