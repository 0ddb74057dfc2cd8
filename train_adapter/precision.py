"""Numeric precision of a training run: the dtype of frozen weights, of trainable weights (and
so of their optimizer state), and of the compute.

A bf16 weight has 8 significant bits: an update under about 1/256 of the weight is rounded away,
and one AdamW step at lr 1e-5 moves a weight of 0.02 by 1e-5. Mixed precision therefore keeps
the trainable weights, their gradients and the optimizer state in float32 and computes in
bf16/fp16 under autocast; frozen weights never change and may stay in 16 bits to save memory.

The choice is a function of the device's capabilities (:func:`choose`), so the CPU tests ask
what a bf16 GPU and a V100 get and check the loaded model's dtypes through the same code.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

CHOICES = ("bf16-mixed", "fp16-mixed", "bf16", "fp32")


class PrecisionError(ValueError):
    """A ``--precision`` the device cannot run; the message says what to use."""


@dataclass(frozen=True)
class Precision:
    name: str
    frozen: torch.dtype       # weights that do not train, as loaded
    trainable: torch.dtype    # weights that train, their gradients and optimizer state
    compute: torch.dtype      # autocast's dtype (QLoRA's compute dtype too)

    @property
    def bf16(self) -> bool:
        """The Trainer's ``bf16`` flag: autocast to bf16 (pure bf16 too: inputs arrive in fp32)."""
        return self.compute == torch.bfloat16

    @property
    def fp16(self) -> bool:
        """The Trainer's ``fp16`` flag: autocast to fp16 with a gradient scaler."""
        return self.compute == torch.float16


PRECISIONS = {
    "bf16-mixed": Precision("bf16-mixed", torch.bfloat16, torch.float32, torch.bfloat16),
    "fp16-mixed": Precision("fp16-mixed", torch.float16, torch.float32, torch.float16),
    "bf16": Precision("bf16", torch.bfloat16, torch.bfloat16, torch.bfloat16),
    "fp32": Precision("fp32", torch.float32, torch.float32, torch.float32),
}


def choose(requested: str | None, *, cuda: bool, bf16_supported: bool) -> Precision:
    """``requested`` (None: the default) on a device with these capabilities. Defaults:
    bf16-mixed on a GPU with bf16, fp16-mixed on one without (V100, T4), fp32 on the CPU."""
    if requested is None:
        requested = ("bf16-mixed" if bf16_supported else "fp16-mixed") if cuda else "fp32"
    if requested not in PRECISIONS:
        raise PrecisionError(f"--precision must be one of {', '.join(CHOICES)}, "
                             f"got {requested!r}")
    if requested == "fp16-mixed" and not cuda:
        raise PrecisionError("--precision fp16-mixed needs a CUDA GPU (fp16 autocast with a "
                             "gradient scaler); on the CPU use fp32 or bf16-mixed")
    if requested in ("bf16-mixed", "bf16") and cuda and not bf16_supported:
        raise PrecisionError(f"--precision {requested}: this GPU has no bf16; use fp16-mixed "
                             f"(the default here) or fp32")
    return PRECISIONS[requested]


def device_precision(requested: str | None) -> Precision:
    """:func:`choose` for this machine's first GPU, or the CPU."""
    cuda = torch.cuda.is_available()
    return choose(requested, cuda=cuda, bf16_supported=cuda and torch.cuda.is_bf16_supported())


def cast_trainable(model, precision: Precision) -> None:
    """Put every trainable parameter in ``precision.trainable`` (after the recipe chose them).
    Quantised (integer) weights never train and are left alone."""
    for p in model.parameters():
        if p.requires_grad and p.is_floating_point() and p.dtype != precision.trainable:
            p.data = p.data.to(precision.trainable)
