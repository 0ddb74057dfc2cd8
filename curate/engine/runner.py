"""Running a job from a command: the folder's lock, the "already complete" check, progress, and
the warnings a run's statistics call for. Shared by ``curate run`` and ``curate qc``."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def run_manifest(manifest: Path, stages, out_dir: Path, console, label: str, *, fingerprint: str,
                 workers: int, seed: int = 0, force: bool = False,
                 shard_seconds: float | None = None, engine: str = "local"):
    """Run ``stages`` over ``manifest`` into ``out_dir`` behind an hours progress bar (``label``),
    holding the folder's lock throughout. Returns what run.json holds — None when ``out_dir``
    already holds this job complete and ``force`` is off — and the unreadable input lines (a
    manifests.Problems). A complete run of another job there is a RunDirError naming what
    differs."""
    from manifests import Problems, read_manifest

    from ..checks.pii import redact_text
    from ..console import escape
    from . import lifecycle
    from .executor import SHARD_SECONDS, run_pipeline
    from .progress import hours_progress

    problems = Problems()

    def records():
        problems.items.clear()  # each pass re-reads the file; keep one pass's problems
        return read_manifest(manifest, problems)

    shard_seconds = SHARD_SECONDS if shard_seconds is None else shard_seconds
    with lifecycle.lock(out_dir) as held:
        if held.note and held.depth == 1:  # a caller holding it already said so
            console.print(f"[yellow]note:[/] {escape(held.note)}", soft_wrap=True)
        if not force and lifecycle.holds(out_dir, lifecycle.job_of(fingerprint, stages, seed,
                                                                shard_seconds)):
            return None, problems
        # the total comes with the run's first full read of the input (see Pipeline.run)
        with hours_progress(console, None, label) as advance:
            info = run_pipeline(records, stages, out_dir, seed=seed, workers=workers,
                                source=str(manifest), fingerprint=fingerprint,
                                on_progress=advance, on_total=advance.set_total,
                                problems=problems,
                                shard_seconds=shard_seconds, resume=not force, engine=engine,
                                describe=lambda p: redact_text(str(p)))
    return info, problems


@contextmanager
def scratch_run(records: Callable[[], Iterable], stages, console, label: str, *, workers: int,
                prefix: str, prepare_records: Callable[[], Iterable] | None = None,
                shard_seconds: float | None = None) -> Iterator[tuple[dict, Path]]:
    """Run ``stages`` over ``records()`` (a factory, as ``run_pipeline`` takes it) behind an hours
    progress bar (``label``), into a run folder of its own in the temporary directory (named
    ``prefix`` + a random part; ``TMPDIR`` moves it), for a command that wants the stages' output
    records rather than a run. Yields what run.json holds and the folder, whose manifests the
    caller reads; the folder is removed on leaving, however it is left, so no half-read or
    finished-looking scratch run stays behind (only a SIGKILL leaves it, under that name).
    ``prepare_records``: see ``run_pipeline``."""
    import tempfile

    from .executor import SHARD_SECONDS, run_pipeline
    from .progress import hours_progress

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out_dir = Path(tmp)
        with hours_progress(console, None, label) as advance:
            info = run_pipeline(records, stages, out_dir, workers=workers, on_progress=advance,
                                on_total=advance.set_total, resume=False,
                                shard_seconds=SHARD_SECONDS if shard_seconds is None
                                else shard_seconds, prepare_records=prepare_records)
        yield info, out_dir


def warn_stage_faults(console, info: dict) -> None:
    """Say which stages broke the stage contract: records lost (neither yielded nor rejected)
    or rejected because the stage raised on them."""
    from ..console import escape

    for key, s in info["per_stage"].items():
        stage = escape(key.split(":", 1)[-1])
        lost = s["reasons"].get("lost_by_stage", 0)
        errors = {r: n for r, n in s["reasons"].items() if r.startswith("stage_error:")}
        if lost:
            console.print(f"[yellow]warning:[/] stage {stage} lost {lost} record(s): it neither "
                          "yielded nor rejected them; they are in rejected.jsonl as "
                          "lost_by_stage", soft_wrap=True)
        for reason, n in sorted(s.get("errors", {}).items()):
            console.print(f"[yellow]warning:[/] stage {stage} raised {n} time(s) after the records "
                          f"it had taken had come out ({escape(reason)}): what it was making then "
                          "(a copy, a window) is missing", soft_wrap=True)
        for reason, n in sorted(errors.items()):
            console.print(f"[yellow]warning:[/] stage {stage} raised on {n} record(s); they are "
                          f"in rejected.jsonl as {escape(reason)}, with the message",
                          soft_wrap=True)
