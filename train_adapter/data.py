"""Training and evaluation examples from ``--data PATH[:WEIGHT]`` sources, mixed by weight.

A source is a run directory (its ``manifest.jsonl``), a manifest file, or a file of text-only
correction pairs (``name<TAB>hyp<TAB>ref`` lines, or JSONL objects with ``hyp`` and ``ref``).
Only metadata is read here (audio headers are probed, never decoded): the collator decodes audio
per batch. Every record that is not used is set aside with a reason and counted, never dropped
silently.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from manifests import Problems, read_manifest
from manifests.audio import AudioError
from manifests.importers.common import ProbeCache
from manifests.rundir import EVALUATION, RunDirError, checked_manifest, is_run_dir, open_run

MIN_SECONDS = 0.1    # shorter clips give the encoder no audio token and break the batch
MAX_SECONDS = 30.0   # the Whisper encoder window; longer audio would be truncated silently
TASKS = ("asr", "correct", "mix")

# Why a record was set aside, as shown to the user.
REASONS = {
    "sensitive": "tagged sensitive (refused; --allow-sensitive to use)",
    "eval_only": "split eval_only (refused; --allow-sensitive to use)",
    "held_out_split": "split dev/test (never trained on)",
    "no_label": "empty label",
    "no_hyp": "no Base1 hypothesis (task correct)",
    "too_short": f"under {MIN_SECONDS:g} s",
    "too_long": "longer than the encoder window",
    "bad_offset": "offset past the end of the audio",
    "missing_audio": "audio file missing",
    "empty_audio": "audio file empty",
    "corrupt_audio": "audio file unreadable",
    "bad_line": "malformed text-pair line",
}


class DataError(ValueError):
    """A ``--data`` argument that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Example:
    """One training or inference example. ``audio`` is None for a text-only correction pair."""

    id: str
    task: str                 # asr | correct | correct_text
    text: str                 # the target (human label); may be empty for inference
    hyp: str | None = None    # Base1 hypothesis, for the correction tasks
    audio: str | None = None
    offset: float = 0.0
    duration: float = 0.0
    weightless: bool = False  # a copy filling an epoch's last step: its labels are ignored


@dataclass(frozen=True)
class Rules:
    """What a reader keeps. Training refuses sensitive and held-out records; inference does not."""

    task: str = "asr"                 # asr | correct | mix
    max_seconds: float = MAX_SECONDS
    allow_sensitive: bool = False
    training: bool = True
    need_label: bool = True
    seed: int = 0


@dataclass
class SourceReport:
    path: str
    kind: str                          # "manifest" or "text pairs"
    weight: float = 1.0
    read: int = 0
    kept: int = 0
    seconds: float = 0.0               # audio seconds kept
    set_aside: Counter = field(default_factory=Counter)
    sampled: int = 0                   # examples this source contributes to the mixture

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "weight": self.weight, "read": self.read,
                "kept": self.kept, "seconds": round(self.seconds, 3),
                "set_aside": dict(self.set_aside), "sampled": self.sampled}


def parse_data_spec(spec: str) -> tuple[Path, float]:
    """``PATH[:WEIGHT]`` → (path, weight); a suffix that is not a number belongs to the path."""
    path, sep, tail = spec.rpartition(":")
    if sep and path:
        try:
            weight = float(tail)
        except ValueError:
            return Path(spec), 1.0
        if not weight > 0:
            raise DataError(f"--data {spec}: the weight must be a positive number")
        return Path(path), weight
    return Path(spec), 1.0


def eval_sources(path: Path) -> list[Path]:
    """What inference reads for ``path``: a run directory's manifest and eval-only records (the
    held-out set is what is evaluated), verified complete; any other path as it is."""
    try:
        return open_run(path).files(EVALUATION) if is_run_dir(path) else [path]
    except RunDirError as e:
        raise DataError(str(e)) from None


def source_kind(path: Path) -> tuple[Path, str]:
    """The file to read for ``path`` and whether it holds manifest records or text pairs. A run
    directory gives its training manifest, and only when it is complete and as the run wrote it."""
    try:
        if is_run_dir(path):
            return open_run(path).file("manifest"), "manifest"
        if path.is_file():
            checked_manifest(path)
    except RunDirError as e:
        raise DataError(str(e)) from None
    if path.is_dir():
        manifest = path / "manifest.jsonl"
        if not manifest.is_file():
            raise DataError(f"{path} is a folder without manifest.jsonl (expected a run directory)")
        return manifest, "manifest"
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    if path.suffix in (".tsv", ".txt"):
        return path, "text pairs"
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                try:
                    first = json.loads(raw)
                except ValueError:
                    return path, "manifest"   # the manifest reader reports the bad line
                if isinstance(first, dict) and "audio" not in first and "hyp" in first:
                    return path, "text pairs"
                return path, "manifest"
    return path, "manifest"


def read_source(path, rules: Rules, problems: Problems,
                weight: float = 1.0) -> tuple[list[Example], SourceReport]:
    """Read one source under ``rules``; bad lines go to ``problems`` with file and line."""
    file, kind = source_kind(Path(path))
    report = SourceReport(str(path), kind, weight)
    if kind == "text pairs":
        if rules.task == "asr":
            raise DataError(f"{path} holds text-only correction pairs, which need --task correct "
                            f"or --task mix (not asr)")
        examples = _read_pairs(file, rules, problems, report)
    else:
        examples = _read_manifest(file, rules, problems, report)
    report.kept = len(examples)
    return examples, report


def _read_manifest(file: Path, rules: Rules, problems: Problems,
                   report: SourceReport) -> list[Example]:
    examples = []
    probe = ProbeCache()   # once per audio file, failures included (long files are sliced)
    for r in read_manifest(file, problems):
        report.read += 1
        reason = _set_aside_reason(r, rules)
        if reason is None:
            try:
                length = probe(r.audio).duration
            except AudioError as e:
                reason = e.reason
                problems.add(file, str(e), id=r.id)
            else:
                if r.offset >= length:
                    reason = "bad_offset"
        if reason is not None:
            report.set_aside[reason] += 1
            continue
        task = _task_for(r.id, r.hyp, rules)
        examples.append(Example(r.id, task, r.text.strip(), r.hyp, r.audio, r.offset, r.duration))
        report.seconds += r.duration
    return examples


def _set_aside_reason(r, rules: Rules) -> str | None:
    if not rules.allow_sensitive:
        if r.has_tag("sensitive"):
            return "sensitive"
        if r.split == "eval_only":
            return "eval_only"
    if rules.training and r.split in ("dev", "test"):
        return "held_out_split"
    if rules.need_label and not r.labelled:
        return "no_label"
    if rules.task == "correct" and not r.hyp:
        return "no_hyp"
    if r.duration < MIN_SECONDS:
        return "too_short"
    if r.duration > rules.max_seconds:
        return "too_long"
    return None


def _task_for(rid: str, hyp: str | None, rules: Rules) -> str:
    if rules.task != "mix":
        return rules.task
    if not hyp:
        return "asr"
    # Half of the records with a hypothesis train correction, chosen by id so reruns agree.
    digest = hashlib.blake2b(f"{rules.seed}\0{rid}".encode(), digest_size=2).digest()
    return "correct" if digest[0] % 2 else "asr"


def _read_pairs(file: Path, rules: Rules, problems: Problems,
                report: SourceReport) -> list[Example]:
    examples = []
    tsv = file.suffix in (".tsv", ".txt")   # else JSONL objects
    with open(file, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n").lstrip("\ufeff")
            except UnicodeDecodeError:
                problems.add(file, "not UTF-8", line=lineno)
                continue
            if not line.strip():
                continue
            report.read += 1
            pair = _parse_pair(line, file, lineno, problems, tsv)
            if pair is None:
                report.set_aside["bad_line"] += 1
                continue
            rid, hyp, ref = pair
            if rules.need_label and not ref:
                report.set_aside["no_label"] += 1
                continue
            examples.append(Example(rid, "correct_text", ref, hyp))
    return examples


def _parse_pair(line: str, file: Path, lineno: int, problems: Problems,
                tsv: bool) -> tuple[str, str, str] | None:
    if tsv:
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0].strip():
            problems.add(file, f"expected name<TAB>hyp<TAB>ref, found {len(parts)} field(s)",
                         line=lineno)
            return None
        return parts[0].strip(), parts[1].strip(), parts[2].strip()
    try:
        d = json.loads(line)
    except ValueError as e:
        problems.add(file, f"not valid JSON ({e})", line=lineno)
        return None
    ref = d.get("ref", d.get("text")) if isinstance(d, dict) else None
    hyp = d.get("hyp") if isinstance(d, dict) else None
    if not isinstance(hyp, str) or not isinstance(ref, str):
        problems.add(file, "a text pair needs string fields 'hyp' and 'ref'", line=lineno)
        return None
    return str(d.get("id") or f"{file.stem}:{lineno}"), hyp.strip(), ref.strip()


@dataclass(frozen=True)
class Mixture:
    """Every kept example of every source once, and the ones each epoch trains on.

    Source i gives ``round(total × w_i / Σw)`` examples per epoch (``total``: all kept examples).
    They are read off the source's own endless stream of seeded permutations, epoch after
    epoch: every example of a source is seen once before any is seen twice, within an epoch
    (an up-weighted source) and across epochs (a down-weighted one meets new examples each
    epoch, not the same subset again).
    """

    examples: tuple[Example, ...]
    sources: tuple[tuple[int, int, float], ...]    # (first index, examples, weight) per source
    seed: int = 0

    @property
    def shares(self) -> list[int]:
        """Examples each source gives per epoch."""
        total = len(self.examples)
        wsum = sum(w for _, count, w in self.sources if count)
        return [round(total * w / wsum) if count else 0 for _, count, w in self.sources]

    def __len__(self) -> int:
        return sum(self.shares)

    def draw(self, epoch: int) -> list[int]:
        """Indices into ``examples`` for ``epoch`` (grouped by source; the sampler shuffles)."""
        picks = []
        for k, ((first, count, _), n) in enumerate(zip(self.sources, self.shares)):
            begin, end = epoch * n, (epoch + 1) * n      # positions in the source's stream
            for block in range(begin // count, -(-end // count)) if n else ():
                perm = random.Random(f"{self.seed}\0{k}\0{block}").sample(range(count), count)
                lo, hi = max(begin - block * count, 0), min(end - block * count, count)
                picks.extend(first + i for i in perm[lo:hi])
        return picks

    def epoch(self, epoch: int) -> list[Example]:
        return [self.examples[i] for i in self.draw(epoch)]


def load_mixture(specs: list[str], rules: Rules,
                 problems: Problems) -> tuple[Mixture, list[SourceReport]]:
    """Read every ``PATH[:WEIGHT]`` source into a :class:`Mixture` by weight."""
    if not specs:
        raise DataError("no --data given")
    examples, sources, reports = [], [], []
    for spec in specs:
        path, weight = parse_data_spec(spec)
        found, report = read_source(path, rules, problems, weight)
        sources.append((len(examples), len(found), weight))
        examples.extend(found)
        reports.append(report)
    if not examples:
        aside = sum((r.set_aside for r in reports), Counter())
        detail = ", ".join(f"{n} {REASONS.get(k, k)}" for k, n in aside.most_common()) \
            or "none read"
        raise DataError(f"no usable examples in {', '.join(specs)} (set aside: {detail})")
    mixture = Mixture(tuple(examples), tuple(sources), rules.seed)
    for report, n in zip(reports, mixture.shares):
        report.sampled = n
    return mixture, reports
