"""Exporters: NeMo manifest, WeNet data.list, Kaldi data dir, Lhotse cuts, HF datasets.Dataset.

Each takes a stream of records, sets aside (in a ``Problems`` collector, by id) records whose
audio is missing, unreadable or shorter than their slice, and writes its output atomically:
an interrupted export leaves the previous output, or none, never a partial one.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterable

from ..problems import Problems
from ..record import Record
from .common import NothingToExport

__all__ = ["FORMATS", "NothingToExport", "export"]

FORMATS = ("nemo", "wenet", "kaldi", "lhotse", "hf")


def export(records: Iterable[Record], fmt: str, out, problems: Problems) -> int:
    """Write ``records`` to ``out`` in ``fmt``; returns how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}': choose one of {', '.join(FORMATS)}")
    return importlib.import_module(f".{fmt}", __name__).export(records, Path(out), problems)
