"""Run directory lifecycle: a stable run id, the job a folder holds, one run at a time per folder,
clean restarts, and ``run.json`` written last."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterable, Iterator

from manifests import Problems, atomic_write_text, read_manifest
from manifests.rundir import MARKER, RUN_JSON, RunDirError, open_run

from .output import SHARDS

LOCK = ".curate-lock"   # flock-ed by the run that owns the folder; holds "pid host"
PACKAGES = ("curate", "numpy", "soundfile", "soxr", "webrtcvad-wheels",
            "silero-vad", "torch")
HOLDER_WAIT = 2.0  # seconds to wait for a new lock holder to write its pid


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


# --- the job a run directory holds ---

def job_of(fingerprint: str, stages, seed: int, shard_seconds: float) -> dict:
    """What fixes a run's output: input, stages and parameters, seed, shard size (merge30's windows
    never span two shards), code version (as JSON reads it back, so a stored job compares
    equal)."""
    job = {"input": fingerprint,
           "stages": [{"name": s.name, "params": s.json_values()} for s in stages],
           "seed": seed, "shard_seconds": shard_seconds, "version": _version("curate")}
    return json.loads(json.dumps(job))


def stored_job(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MARKER).read_text())["job"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no marker, or one written before jobs were recorded


def is_complete(out_dir: Path) -> bool:
    """Complete and as the run wrote it (see manifests.rundir.open_run)."""
    try:
        open_run(out_dir)
    except RunDirError:
        return False
    return True


def holds(out_dir: Path, job: dict) -> bool:
    """Whether ``out_dir`` holds ``job``, complete. A complete run of another job is an error
    naming what differs: it is neither this job's result nor to be overwritten unasked."""
    if not is_complete(out_dir):
        return False
    old = stored_job(out_dir)
    if old == job:
        return True
    diffs = job_differences(old, job) if old else ["its job is not recorded (an older curate)"]
    raise RunDirError(f"{out_dir} holds a complete run of another job: {'; '.join(diffs)}. "
                      "Use --force to redo it, or choose another --out")


def job_differences(old: dict, new: dict) -> list[str]:
    out = []
    if old.get("input") != new["input"]:
        out.append(f"input {str(old.get('input'))[:12]}… → {new['input'][:12]}… "
                   "(another manifest, or the manifest changed)")
    old_stages = old.get("stages") or []
    names = lambda stages: ",".join(s["name"] for s in stages) or "(none)"  # noqa: E731
    if [s["name"] for s in old_stages] != [s["name"] for s in new["stages"]]:
        out.append(f"stages {names(old_stages)} → {names(new['stages'])}")
    else:
        for a, b in zip(old_stages, new["stages"]):
            for p in sorted(set(a["params"]) | set(b["params"])):
                if a["params"].get(p) != b["params"].get(p):
                    out.append(f"{b['name']}.{p} {a['params'].get(p)!r} → {b['params'].get(p)!r}")
    if old.get("seed") != new["seed"]:
        out.append(f"seed {old.get('seed')} → {new['seed']}")
    if old.get("shard_seconds") != new["shard_seconds"]:
        out.append(f"shard seconds {old.get('shard_seconds')} → {new['shard_seconds']}")
    if old.get("version") != new["version"]:
        out.append(f"curate version {old.get('version')} → {new['version']}")
    return out


# --- where a run may go ---

def check_out(out_dir: Path, manifest: Path | None = None) -> None:
    """Refuse, before anything is touched, an output folder that is a file, or one whose clearing
    would destroy this run's input: a folder holding the input manifest, or a folder inside the
    input's run directory. (A folder holding the input's audio: see check_audio_outside, which
    a run calls with its first pass over the input.)"""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"--out {out_dir} is a file, not a folder; choose another --out")
    if manifest is None:
        return
    out, src = out_dir.resolve(), manifest.resolve()
    if _within(src, out):
        raise RunDirError(f"--out {out_dir} holds the input {manifest}; choose another --out")
    if (src.parent / MARKER).exists() and _within(out, src.parent):
        raise RunDirError(f"--out {out_dir} is inside the input run directory {src.parent}; "
                          "choose another --out")


def check_audio_outside(out_dir: Path, folders: Iterable[str]) -> None:
    """Refuse an output folder holding any of ``folders`` (where the input's audio lies), before
    it is cleared."""
    out = out_dir.resolve()
    for folder in sorted(folders):
        if folder and _within(Path(folder).resolve(), out):
            raise RunDirError(f"--out {out_dir} holds audio the input's records point at "
                              f"({folder}); choose another --out")


def audio_folders(manifest: Path) -> set[str]:
    """The folders the audio of ``manifest``'s records lies in."""
    return {os.path.dirname(r.audio) for r in read_manifest(manifest, Problems())}


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# --- one run per folder ---

@dataclass
class Lock:
    """A held run-directory lock. ``took_over`` names the holder of a lock left behind by a run
    that ended without releasing it (killed), or is None."""

    fd: int
    took_over: str | None
    depth: int = 1

    @property
    def note(self) -> str | None:
        if self.took_over is None:
            return None
        return f"took over the lock of {self.took_over}, whose run ended without releasing it"


_held: dict[Path, Lock] = {}  # folders this process holds: nested lock() calls share one


@contextmanager
def lock(out_dir: Path) -> Iterator[Lock]:
    """Hold ``out_dir`` for a run's lifetime; creates the folder. A second run on it fails at once
    with "already running (pid N on HOST)". The lock is an flock, which the system drops when its
    process ends, however it ends: a lock whose holder is gone is simply taken over."""
    key = out_dir.resolve()
    if key in _held:
        held = _held[key]
        held.depth += 1
        try:
            yield held
        finally:
            held.depth -= 1
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"--out {out_dir} is a file, not a folder; choose another --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not (
            (out_dir / MARKER).exists() or (out_dir / LOCK).exists()):
        raise RunDirError(f"{out_dir} exists and is not a curate run directory; "
                          "choose another --out")
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd, wait=HOLDER_WAIT) or "another process"
        os.close(fd)
        raise RunDirError(f"{out_dir} is already running ({holder})") from None
    previous = _holder(fd)  # a released lock is emptied first: text left means its run died
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    held = _held[key] = Lock(fd, previous)
    failed = True
    try:
        yield held
        failed = False
    finally:
        del _held[key]
        os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock
        if failed and created and [p.name for p in out_dir.iterdir()] == [LOCK]:
            shutil.rmtree(out_dir)  # nothing was written: leave no folder that looks like a run


def _holder(fd: int, wait: float = 0.0) -> str | None:
    """"pid N on HOST" from a lock file; waits up to ``wait`` s for a new holder to write it."""
    deadline = time.monotonic() + wait
    while True:
        pid, _, host = os.pread(fd, 4096, 0).decode(errors="replace").strip().partition(" ")
        if pid:
            return f"pid {pid} on {host or '?'}"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def prepare(out_dir: Path, job: dict, resume: bool = False) -> bool:
    """Make ``out_dir`` (held with :func:`lock`) ready for ``job``: empty but for its lock, marked
    as a run directory of the job. With ``resume``, an interrupted run of the same job keeps its
    finished shards and their audio (run_output), and the rest is removed; otherwise everything
    is. Returns whether anything was kept for reuse."""
    if out_dir.resolve() not in _held:
        raise RunDirError(f"{out_dir} is not locked by this process")
    keep = {LOCK}
    resuming = resume and stored_job(out_dir) == job and not (out_dir / RUN_JSON).exists()
    if resuming:
        keep |= {SHARDS, "audio"}
    for child in out_dir.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    atomic_write_text(out_dir / MARKER, json.dumps({"curate_run": 1, "job": job}, indent=1) + "\n")
    return resuming


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        if (v := _version(name)) is not None:
            out[name] = v
    return out


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def write_run_json(out_dir: Path, info: dict) -> None:
    atomic_write_text(out_dir / RUN_JSON, json.dumps(info, ensure_ascii=False, indent=2) + "\n")
