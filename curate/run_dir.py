"""Run directory lifecycle: a stable run id, clean restarts, and ``run.json`` written last."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from manifests import atomic_write_text

MARKER = ".curate-run"
PACKAGES = ("curate", "numpy", "soundfile", "soxr", "webrtcvad-wheels",
            "silero-vad", "torch")


class RunDirError(ValueError):
    pass


def file_fingerprint(path) -> str:
    """sha256 of a manifest file: names the exact input of a run."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_id(fingerprint: str, config: dict) -> str:
    """Same input, stages, parameters and seed → same run id, so a rerun finds its directory."""
    blob = json.dumps({"input": fingerprint, **config}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def default_dir(target: str, manifest: Path, fingerprint: str, config: dict,
                prefix: str = "") -> Path:
    """``runs/NAME/<prefix><run id>``: NAME is the target's last part, or the manifest's stem
    when the target is the manifest's bare file name."""
    name = target if manifest.name != target else manifest.stem
    return Path("runs") / Path(name).name / f"{prefix}{run_id(fingerprint, config)}"


def is_complete(out_dir: Path) -> bool:
    try:
        return json.loads((out_dir / "run.json").read_text())["status"] == "complete"
    except (OSError, ValueError, KeyError):
        return False


def prepare(out_dir: Path) -> None:
    """Make ``out_dir`` empty and ours. A leftover of an interrupted run is removed: runs restart
    cleanly rather than resume. A folder that is not a curate run is never touched."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise RunDirError(f"{out_dir} exists and is not a curate run directory; "
                              "choose another --out")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("curate run directory\n")


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def write_run_json(out_dir: Path, info: dict) -> None:
    atomic_write_text(out_dir / "run.json", json.dumps(info, ensure_ascii=False, indent=2) + "\n")
