"""A folder of audio files plus a ``name<TAB>text`` label file.

The label file lists the records: each name is matched to the audio file under the folder
(searched recursively) whose stem equals it; a name may also carry the extension or a relative
path (``sub/x``) to pick one of several files with the same stem. PATH is the label file, or the
folder when it holds exactly one ``.tsv``/``.txt`` file with tab-separated lines.

Audio files that no line names are unlabelled: ``unlabelled="skip"`` (the default) sets each
aside with its path and reason, ``"keep"`` imports it with an empty label, its id the path under
the folder without the extension; either way they are counted. Which audio files a folder holds is
part of what an import depends on (``audio_listing``): adding or removing one changes it.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Iterator

from ..audio import AudioError
from ..problems import Problems
from ..record import Record, RecordError
from ..textfile import read_name_text
from .common import ProbeCache, SourceError, audio_files, audio_problem, clamp_slice

LABEL_SUFFIXES = (".tsv", ".txt")
UNLABELLED = ("skip", "keep")  # what to do with audio files the label file does not name


def label_file(path) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise SourceError(f"{path} not found")
    found = label_candidates(path)
    if len(found) == 1:
        return found[0]
    if found:
        raise SourceError(f"{path} holds several name<TAB>text files "
                          f"({', '.join(p.name for p in found)}); pass the label file as PATH")
    raise SourceError(f"{path} holds no name<TAB>text label file (.tsv or .txt)")


def label_candidates(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")
            and p.is_file() and p.suffix.lower() in LABEL_SUFFIXES and first_line_has_tab(p)]


def first_line_has_tab(path: Path) -> bool:
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                return b"\t" in raw
    return False


def index_files(path) -> list[Path]:
    return [label_file(path)]


def audio_listing(path) -> str:
    """A digest of the audio files under the label file's folder (their relative paths)."""
    folder = label_file(path).resolve().parent
    return hashlib.blake2b("\0".join(audio_files(folder)).encode("utf-8", "surrogateescape"),
                           digest_size=16).hexdigest()


def read(path, problems: Problems, unlabelled: str = "skip",
         counts: Counter | None = None) -> Iterator[Record]:
    """The records of the folder; ``counts["unlabelled"]`` (when given) counts the audio files no
    line names, kept or skipped as ``unlabelled`` says."""
    if unlabelled not in UNLABELLED:
        raise SourceError(f"unlabelled must be one of {', '.join(UNLABELLED)}, got {unlabelled!r}")
    counts = Counter() if counts is None else counts
    labels_path = label_file(path)
    folder = labels_path.resolve().parent
    before = len(problems)
    labels = read_name_text(labels_path, problems)
    if not labels and len(problems) == before:
        problems.add(labels_path, "empty file: no entries")
    files = list(audio_files(folder))
    by_key: dict[str, list[str]] = {}
    for rel in files:
        no_ext = os.path.splitext(rel)[0]
        for key in {rel, no_ext, os.path.basename(no_ext)}:
            by_key.setdefault(key, []).append(rel)
    probe = ProbeCache()
    used: set[str] = set()
    for name, text in labels.items():
        matches = by_key.get(name) or by_key.get(os.path.splitext(name)[0], [])
        if not matches:
            problems.add(labels_path, f"no audio file named '{name}' under {folder}", id=name)
            continue
        if len(matches) > 1:
            used.update(matches)
            problems.add(labels_path, f"name matches several audio files ({', '.join(matches)}); "
                                      f"write it as a relative path", id=name)
            continue
        used.add(matches[0])
        record = _record(name, str(folder / matches[0]), text, labels_path, probe, problems)
        if record is not None:
            yield record
    unnamed = [rel for rel in files if rel not in used]
    counts["unlabelled"] += len(unnamed)
    stems = Counter(os.path.splitext(rel)[0] for rel in unnamed)
    for rel in unnamed:
        if unlabelled == "skip":
            problems.add(folder / rel, f"audio file not named in {labels_path.name}; not imported "
                                       "(--unlabelled keep imports it with an empty label)")
            continue
        stem = os.path.splitext(rel)[0]
        name = stem if stems[stem] == 1 and stem not in labels else rel
        record = _record(name, str(folder / rel), "", folder / rel, probe, problems)
        if record is not None:
            yield record


def _record(name: str, audio: str, text: str, where: Path, probe: ProbeCache,
            problems: Problems) -> Record | None:
    """The record of one audio file, or None with the problem noted against ``where``."""
    try:
        info = probe(audio)
    except AudioError as e:
        problems.add(where, audio_problem(e), id=name)
        return None
    offset, duration = clamp_slice(0.0, None, info)
    try:
        return Record.from_dict({"id": name, "audio": audio, "offset": offset,
                                 "duration": duration, "text": text,
                                 "sample_rate": info.sample_rate, "channels": info.channels})
    except RecordError as e:   # an audio path that is not UTF-8
        problems.add(where, str(e), id=name)
        return None
