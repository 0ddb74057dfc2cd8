"""Importers: Kaldi/WeNet data dirs, WeNet data.list, a folder with a name<TAB>text file, NeMo.

Every importer streams :class:`~manifests.Record` objects whose duration, sample rate and channels
come from the audio file header (never decoded), and records what it sets aside (missing or
unreadable audio, bad lines, duplicate ids, slices past the end of a file...) in a ``Problems``
collector with file and line or id, then keeps going.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterator

from ..problems import Problems
from ..record import Record
from .common import SourceError
from .detect import detect
from .hyp import HypAttacher

FORMATS = ("kaldi", "wenet", "tsv", "nemo")
_MODULES = {"kaldi": "kaldi", "wenet": "wenet", "tsv": "tsv_folder", "nemo": "nemo"}

__all__ = ["FORMATS", "SourceError", "detect", "index_files", "read_source", "resolve_format"]


def _importer(fmt: str):
    if fmt not in _MODULES:
        raise SourceError(f"unknown format '{fmt}': choose one of auto, {', '.join(FORMATS)}")
    return importlib.import_module(f".{_MODULES[fmt]}", __name__)


def resolve_format(path, fmt: str = "auto") -> str:
    """The concrete format of ``path`` (detected for ``auto``), checked to be readable as such."""
    if not Path(path).exists():
        raise SourceError(f"{path} does not exist")
    fmt = detect(path) if fmt == "auto" else fmt
    index_files(path, fmt)
    return fmt


def index_files(path, fmt: str) -> list[Path]:
    """The files an import of ``path`` reads besides the audio (a change means re-import)."""
    return _importer(fmt).index_files(path)


def read_source(path, fmt: str, problems: Problems, hyp=None) -> Iterator[Record]:
    """Stream the records of ``path`` in format ``fmt``; with ``hyp``, attach Base1 hypotheses
    and, once the stream is exhausted, report hypothesis names that matched no record."""
    records = _importer(fmt).read(path, problems)
    if hyp is None:
        yield from records
        return
    attach = HypAttacher(hyp, problems)
    yield from attach(records)
    attach.report_unmatched()
