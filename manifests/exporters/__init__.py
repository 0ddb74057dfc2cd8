"""Exporters: NeMo manifest, WeNet data.list, Kaldi data dir, Lhotse cuts, HF datasets.Dataset.

Each takes a stream of records, sets aside (in a ``Problems`` collector, by id) records whose
audio is missing, unreadable or shorter than their slice, or that the format cannot hold, and
writes its output atomically: an interrupted export leaves the previous output, or none, never a
partial one.

Sample rates: ``kaldi`` and ``hf`` write one rate (``sample_rate``, 16 kHz by default), resampling
what is at another; ``lhotse`` records each recording's own rate; ``nemo`` and ``wenet`` point at
the source files as they are (their loaders resample to the model's rate).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterable

from ..audio import TARGET_SR
from ..problems import Problems
from ..record import Record
from .common import NothingToExport

__all__ = ["FORMATS", "ONE_RATE", "NothingToExport", "export"]

FORMATS = ("nemo", "wenet", "kaldi", "lhotse", "hf")
ONE_RATE = ("kaldi", "hf")     # the formats that write all audio at one sample rate


def export(records: Iterable[Record], fmt: str, out, problems: Problems, *,
           sample_rate: int = TARGET_SR) -> int:
    """Write ``records`` to ``out`` in ``fmt``; returns how many were written. ``sample_rate``
    is the rate of the ``ONE_RATE`` formats."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}': choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(f".{fmt}", __name__)
    if fmt in ONE_RATE:
        return module.export(records, Path(out), problems, sample_rate=sample_rate)
    return module.export(records, Path(out), problems)
