"""A run directory's files, and the check every reader makes before it trusts one.

A run writes ``manifest.jsonl`` (kept), ``eval_only.jsonl`` (personal data: for evaluation only)
and ``rejected.jsonl``, then ``run.json`` last, recording each manifest's sha256 and row count. A
reader trusts a folder only when ``run.json`` says the run is complete and every manifest matches
what it records: a run killed before ``run.json`` was written, or a manifest edited, truncated or
swapped since, is refused with the reason. A manifest file read on its own is held to the same
check when it lies in a run directory.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

MARKER = ".curate-run"   # says a folder is a run directory (and, inside, which job it holds)
RUN_JSON = "run.json"    # written last: what marks a run directory complete
KINDS = ("manifest", "eval_only", "rejected")
EVALUATION = ("manifest", "eval_only")   # what a run offers for scoring and inference


class RunDirError(ValueError):
    """A run directory a reader cannot trust; the message says why and what to do."""


def file_name(kind: str) -> str:
    return f"{kind}.jsonl"


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_run_dir(path) -> bool:
    """A folder a curate run wrote (or began to write)."""
    path = Path(path)
    return path.is_dir() and ((path / MARKER).exists() or (path / RUN_JSON).exists())


@dataclass(frozen=True)
class RunDir:
    """A complete, verified run directory."""

    path: Path
    info: dict

    def file(self, kind: str) -> Path:
        return self.path / file_name(kind)

    def files(self, kinds=EVALUATION) -> list[Path]:
        return [self.file(k) for k in kinds]


def open_run(path) -> RunDir:
    """The run directory at ``path``, verified: RunDirError unless ``run.json`` says complete and
    every manifest it lists has the recorded sha256."""
    path = Path(path)
    rerun = "rerun the command that made it (with --force)"
    try:
        info = json.loads((path / RUN_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path} is not a complete run: it has no {RUN_JSON} (the run was "
                          f"interrupted or is still going); {rerun}") from None
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path}/{RUN_JSON} cannot be read ({e}); {rerun}") from None
    if not isinstance(info, dict) or info.get("status") != "complete":
        raise RunDirError(f"{path} is not a complete run ({RUN_JSON} does not say so); {rerun}")
    recorded = info.get("files")
    if not isinstance(recorded, dict) or not all(file_name(k) in recorded for k in KINDS):
        raise RunDirError(f"{path}/{RUN_JSON} records no checksums of its manifests (an older "
                          f"curate wrote it); {rerun}")
    for kind in KINDS:
        name = file_name(kind)
        try:
            actual = sha256_of(path / name)
        except FileNotFoundError:
            raise RunDirError(f"{path} is missing {name}, which its {RUN_JSON} lists; "
                              f"{rerun}") from None
        if actual != recorded[name].get("sha256"):
            raise RunDirError(f"{path}/{name} is not the file the run wrote (its sha256 differs "
                              f"from {RUN_JSON}'s): it was edited, truncated or replaced; {rerun}")
    return RunDir(path, info)


def checked_manifest(path) -> Path:
    """``path``, a manifest file, after its run directory's check when it lies in one."""
    path = Path(path)
    if path.name in {file_name(k) for k in KINDS} and is_run_dir(path.parent):
        open_run(path.parent)
    return path
