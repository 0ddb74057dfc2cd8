"""Reading references and hypotheses.

A reference is a manifest (JSONL: ``id``, ``text``, ``tags``), a run directory (its
``manifest.jsonl`` plus ``eval_only.jsonl``) or a ``name<TAB>text`` file. Hypotheses are
``name<TAB>text`` files. A duplicate id is an error naming both lines; other bad lines are
reported (file and line) and left out, and the run goes on.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from manifests.jsonl import resolve_audio
from manifests.problems import Problems
from manifests.rundir import EVALUATION, RunDirError, checked_manifest, file_name, is_run_dir, open_run
from manifests.textfile import read_name_text

from .fuzzy import is_fuzzy_tag

RUN_FILES = tuple(file_name(kind) for kind in EVALUATION)
_NAME = re.compile(r"[\w.+-]+")


class InputError(ValueError):
    """An input the scoring cannot go on with; the message names the file (and lines)."""


@dataclass
class Reference:
    source: str
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    fuzzy_tagged: set[str] = field(default_factory=set)
    problems: Problems = field(default_factory=Problems)
    # id -> (audio file, offset, duration) for a manifest's records that name their audio
    audio: dict[str, tuple[str, float, float | None]] = field(default_factory=dict)


@dataclass
class Hypotheses:
    name: str
    source: str
    texts: dict[str, str]
    problems: Problems


def load_reference(path) -> Reference:
    """A reference file, or a run directory's manifest and eval-only records (verified: a run
    that is not complete, or whose manifests changed since, is an InputError)."""
    path = Path(path)
    try:
        if is_run_dir(path):
            files = open_run(path).files(EVALUATION)
        elif path.is_dir():
            files = [path / f for f in RUN_FILES if (path / f).is_file()]
            if not files:
                raise InputError(f"{path}: a run directory needs {' or '.join(RUN_FILES)}")
        elif path.is_file():
            files = [checked_manifest(path)]
        else:
            raise InputError(f"{path}: no such file or directory")
    except RunDirError as e:
        raise InputError(str(e)) from None
    ref = Reference(source=str(path))
    seen: dict[str, str] = {}
    duplicates: list[str] = []
    for f in files:
        rows = (_read_jsonl(f, ref.problems, ref.audio) if _is_jsonl(f)
                else _read_tsv(f, ref.problems))
        for rid, text, fuzzy, where in rows:
            if rid in seen:
                duplicates.append(f"{where}: duplicate id {rid!r} (first at {seen[rid]})")
                continue
            seen[rid] = where
            ref.ids.append(rid)
            ref.texts.append(text)
            if fuzzy:
                ref.fuzzy_tagged.add(rid)
    if duplicates:
        raise InputError(_listing("duplicate reference ids", duplicates))
    return ref


def parse_hyp_spec(spec: str) -> tuple[str, Path]:
    """``NAME=FILE``, or a bare ``FILE`` named after its stem (``hyp.tsv`` → ``hyp``)."""
    name, eq, file = spec.partition("=")
    if eq and _NAME.fullmatch(name) and not Path(spec).exists():
        return name, Path(file)
    path = Path(spec)
    return path.stem, path


def load_hypotheses(spec: str) -> Hypotheses:
    name, path = parse_hyp_spec(spec)
    if not path.is_file():
        raise InputError(f"{path}: no such hypothesis file (from --hyp {spec})")
    texts, problems = _read_name_text_unique(path, f"duplicate ids in {name}")
    return Hypotheses(name, str(path), texts, problems)


def _read_name_text_unique(path: Path, what: str) -> tuple[dict[str, str], Problems]:
    """``read_name_text`` and its problems; a duplicate id is an InputError listing them all
    under ``what``."""
    problems = Problems()
    texts = read_name_text(path, problems)
    duplicates = [str(p) for p in problems if p.reason.startswith("duplicate id")]
    if duplicates:
        raise InputError(_listing(what, duplicates))
    return texts, problems


def _is_jsonl(path: Path) -> bool:
    if path.suffix in (".jsonl", ".json"):
        return True
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                return raw.lstrip().startswith((b"{", b"\xef\xbb\xbf{"))
    return False


def _read_jsonl(path: Path, problems: Problems, audio: dict):
    base = path.parent
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                d = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
            except UnicodeDecodeError:
                problems.add(path, "not UTF-8", line=lineno)
                continue
            except json.JSONDecodeError as e:
                problems.add(path, f"not valid JSON ({e.msg}, column {e.colno})", line=lineno)
                continue
            rid = d.get("id") if isinstance(d, dict) else None
            if not isinstance(rid, str) or not rid:
                problems.add(path, "no 'id' string", line=lineno)
                continue
            text = d.get("text")
            if text is None:
                text = ""
            tags = d.get("tags") or []
            if not isinstance(text, str) or not isinstance(tags, list):
                problems.add(path, "'text' must be a string and 'tags' a list", line=lineno,
                             id=rid)
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a JSON escape of half a surrogate pair
                problems.add(path, "'text' is not valid Unicode", line=lineno, id=rid)
                continue
            fuzzy = any(is_fuzzy_tag(t) for t in tags)
            _note_audio(audio, rid, d, base)
            yield rid, text, fuzzy, f"{path}:{lineno}"


def _note_audio(audio: dict, rid: str, d: dict, base: Path) -> None:
    """Where the record's audio is (for the report's players); a record whose audio fields are
    not a path and numbers just has no player."""
    file, offset, duration = d.get("audio"), d.get("offset") or 0.0, d.get("duration")
    numbers = isinstance(offset, (int, float)) and (duration is None
                                                    or isinstance(duration, (int, float)))
    if isinstance(file, str) and file and numbers and rid not in audio:
        audio[rid] = (resolve_audio(file, base), float(offset),
                      None if duration is None else float(duration))


def _read_tsv(path: Path, problems: Problems):
    texts, local = _read_name_text_unique(path, "duplicate reference ids")
    for p in local:
        problems.add(p.source, p.reason, line=p.line, id=p.id)
    where = str(path)
    for rid, text in texts.items():
        yield rid, text, False, where


def _listing(what: str, lines: list[str], limit: int = 10) -> str:
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"{what}:\n  " + "\n  ".join(lines[:limit]) + more
