"""The experiment board: every ``curate cer --board NAME`` result in one append-only JSONL file,
``.curate/boards/NAME.jsonl`` under the workspace root.

One line per (eval set, system) result. An eval set is its name plus the sha256 of the reference
(ids, texts and unclear-span tags, in order) plus the scoring settings (unit, profile, unclear
spans, missing): the same references scored another way are another column, since their CERs do
not compare. Re-scoring a system on an eval set appends a new line, and reading keeps the latest
line per (eval set, system): a row is replaced, never duplicated, and nothing is rewritten.

Writes append: all the lines of one ``curate cer`` call go in one ``write`` on an ``O_APPEND``
descriptor, then ``fsync``. Appending is what a log of results needs — two scorers writing to one
board at once both land (a write-whole-file-and-rename would lose one of them), and a crash can
at worst leave a torn last line, which the reader reports (file:line) and skips and the next
append starts on a fresh line. A rename would also need the whole board read and rewritten per
result.

For paired-bootstrap p-values against a baseline chosen later (``curate board --baseline``) each
line keeps its per-utterance reference tokens and edit counts, as zlib-compressed int32 arrays
(-1: the utterance does not count for that system, under ``--missing skip``): ~1-2 bytes per
utterance. Within an eval set the utterances are the same and in the same order (same
references, same settings), so two lines pair up index by index.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from manifests.problems import Problems

from .evaluate import Evaluation
from .inputs import InputError, Reference
from .outputs import finite
from .score import bootstrap

BOARD_VERSION = 1
_REQUIRED = ("utterances", "N", "S", "D", "I", "cer", "cer_ci95", "bootstrap", "per_utt")
BOARDS_DIR = Path(".curate") / "boards"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def board_path(root: Path, name: str) -> Path:
    """The board file of ``name`` under workspace root ``root``."""
    if not _NAME.fullmatch(name):
        raise InputError(f"board name {name!r}: use letters, digits, '.', '_' or '-', starting "
                         "with a letter or digit")
    return Path(root) / BOARDS_DIR / f"{name}.jsonl"


def reference_fingerprint(ref: Reference) -> str:
    """sha256 of what the references say (ids, texts, unclear-span tags, in order): the same
    eval set wherever its file lies or however it is formatted."""
    h = hashlib.sha256()
    for rid, text in zip(ref.ids, ref.texts):
        fuzzy = "1" if rid in ref.fuzzy_tagged else "0"
        h.update(f"{len(rid)}:{rid}{len(text)}:{text}{fuzzy}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def scoring_of(ev: Evaluation) -> dict:
    s = ev.settings
    scoring = {"unit": s.unit, "profile": s.profile.describe(), "fuzzy": s.fuzzy,
               "missing": s.missing}
    blob = json.dumps(scoring, sort_keys=True, ensure_ascii=False).encode()
    return {**scoring, "digest": hashlib.sha256(blob).hexdigest()[:12]}


def records(ev: Evaluation, eval_name: str, provenance: dict[str, dict | None],
            summary: dict) -> list[dict]:
    """One board line per system of ``ev``; ``summary`` is outputs.summary(ev) (its figures are
    the ones written to summary.json), ``provenance`` the sidecar per system (or None)."""
    evset = {"name": eval_name, "fingerprint": reference_fingerprint(ev.reference),
             "scoring": scoring_of(ev), "source": ev.reference.source,
             "utterances": len(ev.ids)}
    corrections = {c["b"]: c for c in summary["corrections"]}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    n = _pack(ev.n)
    out = []
    for name, sr in ev.systems.items():
        s = summary["systems"][name]
        errors = np.where(ev.mask(name), sr.errors, -1)
        c = corrections.get(name)
        out.append({
            "board": BOARD_VERSION, "time": now, "eval": evset, "system": name,
            "hyp": s["source"],
            **{k: s[k] for k in ("utterances", "N", "C", "S", "D", "I", "cer", "cer_ci95",
                                 "cer_raw", "missing", "empty")},
            "bootstrap": summary["bootstrap"],
            "correction": None if c is None else {
                "corrects": c["a"], "fix_rate": c["fix_rate"],
                "break_rate": c["over_correction_rate"],
                "relative_cer_reduction": c["relative_cer_reduction"],
                "cer_a": c["cer_a"], "cer_b": c["cer_b"]},
            "provenance": provenance.get(name),
            "per_utt": {"n": n, "errors": _pack(errors)},
        })
    return out


def append(path: Path, lines: list[dict]) -> None:
    """Append ``lines`` to the board in one write, then fsync (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = "".join(json.dumps(finite(r), ensure_ascii=False, separators=(",", ":")) + "\n"
                   for r in lines).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn line from a crash: start anew
            blob = b"\n" + blob
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    finally:
        os.close(fd)


@dataclass
class Board:
    path: Path
    rows: list[dict] = field(default_factory=list)   # the latest line per (eval set, system)
    replaced: int = 0                                # older lines superseded by a rescore
    problems: Problems = field(default_factory=Problems)


def eval_key(row: dict) -> tuple[str, str, str]:
    e = row["eval"]
    return e["name"], e["fingerprint"], e["scoring"]["digest"]


def read(path: Path) -> Board:
    """The board's current rows (latest per eval set and system, in order of first appearance);
    lines that are not board records are reported with their line number and skipped."""
    board = Board(path)
    if not path.is_file():
        raise InputError(f"{path}: no such board (write one with curate cer ... --board NAME)")
    latest: dict[tuple, dict] = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
                key = (*eval_key(row), row["system"])
                if (row.get("board") != BOARD_VERSION or not isinstance(row["system"], str)
                        or any(k not in row for k in _REQUIRED)
                        or not isinstance(row["per_utt"].get("errors"), str)):
                    raise KeyError("board")
            except UnicodeDecodeError:
                board.problems.add(path, "not UTF-8", line=lineno)
                continue
            except ValueError as e:
                board.problems.add(path, f"not valid JSON ({e}); a torn line?", line=lineno)
                continue
            except (KeyError, TypeError, AttributeError):
                board.problems.add(path, "not a board record", line=lineno)
                continue
            if key in latest:
                board.replaced += 1
                del latest[key]  # re-inserted: the order is that of the latest result
            latest[key] = row
    board.rows = list(latest.values())
    return board


def select(rows: list[dict], evals: list[str] | None, systems: list[str] | None) -> list[dict]:
    """Rows whose eval set name and system match any of the globs (all when none given)."""
    def hit(value: str, globs) -> bool:
        return not globs or any(fnmatch.fnmatchcase(value, g) for g in globs)
    return [r for r in rows if hit(r["eval"]["name"], evals) and hit(r["system"], systems)]


@dataclass(frozen=True)
class EvalColumn:
    key: tuple[str, str, str]
    label: str


def columns(rows: list[dict]) -> list[EvalColumn]:
    """The eval sets of ``rows`` in order of appearance; a name held by several (other
    references or settings) is told apart by its fingerprint and settings digest."""
    keys = list(dict.fromkeys(eval_key(r) for r in rows))
    names = [k[0] for k in keys]
    return [EvalColumn(k, k[0] if names.count(k[0]) == 1 else f"{k[0]} ({k[1][:8]}/{k[2][:6]})")
            for k in keys]


def best_systems(rows: list[dict]) -> dict[tuple, set[str]]:
    """Per eval set, the system(s) with the lowest CER."""
    best: dict[tuple, float] = {}
    for r in rows:
        if r["cer"] is not None:
            k = eval_key(r)
            best[k] = min(best.get(k, r["cer"]), r["cer"])
    return {k: {r["system"] for r in rows if eval_key(r) == k and r["cer"] == v}
            for k, v in best.items()}


def p_values(rows: list[dict], baseline: str) -> dict[tuple, float | None]:
    """Paired-bootstrap p-value of each row's CER against the baseline system's on the same eval
    set, keyed (eval key, system): score.bootstrap with the baseline's resamples and seed, so
    systems scored in one curate cer call get the p-value that call reported."""
    out: dict[tuple, float | None] = {}
    by_eval: dict[tuple, list[dict]] = {}
    for r in rows:
        by_eval.setdefault(eval_key(r), []).append(r)
    for key, group in by_eval.items():
        base = next((r for r in group if r["system"] == baseline), None)
        others = [r for r in group if r["system"] != baseline]
        if base is None or not others:
            continue
        n = _unpack(base["per_utt"]["n"])
        errors = {baseline: _unpack(base["per_utt"]["errors"])}
        for r in others:
            e = _unpack(r["per_utt"]["errors"])
            if e.size == n.size and np.array_equal(_unpack(r["per_utt"]["n"]), n):
                errors[r["system"]] = e
            else:  # cannot happen for one eval key, unless the file was edited by hand
                out[key, r["system"]] = None
        masks = {k: v >= 0 for k, v in errors.items()}
        pairs = [(baseline, k) for k in errors if k != baseline]
        drawn = base["bootstrap"]
        result = bootstrap(n, {k: np.maximum(v, 0) for k, v in errors.items()}, masks, pairs,
                           drawn["resamples"], drawn["seed"])
        for test in result.pairs:
            out[key, test.b] = test.p_value
    return out


def provenance_summary(row: dict) -> dict[str, str]:
    """The provenance fields a table shows, as text ('' where the row has none)."""
    p = row.get("provenance") or {}
    model = p.get("model") or {}
    train = model.get("train") or {}
    recipe = train.get("recipe") or {}
    data = ", ".join(f"{Path(d['path']).name}:{f['sha256'][:8]}"
                     for d in p.get("data") or [] for f in d.get("files") or [])
    return {
        "model": model.get("path", ""),
        "family": model.get("family", ""),
        "step": "" if model.get("step") is None else str(model["step"]),
        "recipe": _recipe_text(train, recipe),
        "task": p.get("task", ""),
        "prompt": p.get("prompt_style", ""),
        "decoding": _decoding_text(p.get("decoding") or {}),
        "data": data,
        "code": (p.get("code") or {}).get("curate", ""),
    }


def _recipe_text(train: dict, recipe: dict) -> str:
    """``sft lora r=16,alpha=32 · data runs/w5/r1:0.7`` from a checkpoint's train.json."""
    if not train:
        return ""
    parts = [str(recipe.get("stage", ""))]
    lora = recipe.get("lora")
    parts.append("lora " + ",".join(f"{k}={v}" for k, v in lora.items())
                 if isinstance(lora, dict) else "full")
    if recipe.get("encoder_layers"):
        parts.append(f"encoder last:{recipe['encoder_layers']}")
    data = train.get("data")
    if isinstance(data, list) and data:
        parts.append("data " + " ".join(str(d) for d in data))
    return " · ".join(p for p in parts if p)


def _decoding_text(d: dict) -> str:
    if not d:
        return ""
    return (f"{d.get('strategy', '')} beams={d.get('num_beams', '')} "
            f"tps={d.get('tokens_per_second', '')}")


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.asarray(values, dtype="<i4").tobytes(), 6)
                            ).decode("ascii")


def _unpack(blob: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(blob)), dtype="<i4").astype(np.int64)
