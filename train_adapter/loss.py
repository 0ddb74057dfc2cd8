"""The training loss: token-summed cross-entropy divided by the labelled tokens of the whole
optimizer step, and ``lm_head`` applied only where a label is.

The models' own loss is a per-batch mean and ignores ``num_items_in_batch``, so under the HF
Trainer the loss and gradients come out scaled by the accumulation steps and again by the number of
processes (transformers issue 47688). Given as ``compute_loss_func``, :func:`token_loss` receives
the labelled-token count of all micro-batches of the step on all processes; the Trainer multiplies
by the process count to undo DDP's gradient averaging, so every labelled token weighs the same,
however the step is split.

The logits over the full sequence dominate memory on a real model (Qwen2-Audio: vocab 156k ×
~850 positions); :class:`LabelledLogits` cuts the last hidden state down to the labelled positions
before ``lm_head``, which gives the identical loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .collator import IGNORE


class LabelledLogits:
    """Hooks on the family's inner model, the one whose last hidden state feeds ``lm_head``
    (found under any PEFT/DDP wrapping).

    A pre-hook takes the ``loss_mask`` input the training collator adds (so it never reaches the
    LLM); a forward hook then keeps only those positions of the last hidden state, so the
    model's ``lm_head`` returns logits of shape ``(1, labelled tokens, vocab)``. Calls without a
    ``loss_mask`` (generation) are untouched.
    """

    def __init__(self, model) -> None:
        from .model import family_of

        core_class = family_of(model).core_class
        core = next(m for m in model.modules() if isinstance(m, core_class))
        self.mask: torch.Tensor | None = None
        self.handles = [core.register_forward_pre_hook(self._take_mask, with_kwargs=True),
                        core.register_forward_hook(self._keep_labelled)]

    def _take_mask(self, module, args, kwargs):
        self.mask = kwargs.pop("loss_mask", None)
        return args, kwargs

    def _keep_labelled(self, module, args, output):
        if self.mask is not None:
            hidden = output.last_hidden_state[:, :-1]
            output.last_hidden_state = hidden[self.mask.to(hidden.device)].unsqueeze(0)
            self.mask = None
        return output

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def token_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Σ token cross-entropy ÷ ``num_items_in_batch`` (the step's labelled tokens on all
    processes), or ÷ this batch's labelled tokens when no count is given (evaluation)."""
    targets = labels[:, 1:]
    targets = targets[targets != IGNORE]
    logits = outputs.logits.reshape(-1, outputs.logits.size(-1))
    if logits.size(0) != targets.numel():
        raise RuntimeError(f"{logits.size(0)} logits for {targets.numel()} labelled tokens: "
                           "the model was called without LabelledLogits hooks or loss_mask")
    total = F.cross_entropy(logits.float(), targets.to(logits.device), reduction="sum")
    return total / (targets.numel() if num_items_in_batch is None else num_items_in_batch)
