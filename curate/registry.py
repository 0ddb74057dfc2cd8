"""The dataset registry: names for data sources, kept in a workspace file a team can commit.

The workspace file is ``curate-datasets.json`` in the working directory (the ``CURATE_WORKSPACE``
environment variable names another file). It maps each dataset name to its source path (relative
to the workspace file's folder when the source lies inside it, so the file can be committed with
the data), format and optional Base1 hypothesis file. The imported manifest is materialised in
``.curate/datasets/NAME/`` next to the workspace file, and imported again when it is missing or
when a file the import read (the index files, the hyp file) has changed, or, for a folder of
audio, when an audio file was added to or removed from it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from manifests import ManifestWriter, Problem, Problems, Record, atomic_write_text
from manifests.rundir import RunDirError, checked_manifest, is_run_dir, open_run

from . import __version__

WORKSPACE_ENV = "CURATE_WORKSPACE"
WORKSPACE_FILE = "curate-datasets.json"
CACHE_DIR = Path(".curate") / "datasets"
DEMO = "demo"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class RegistryError(ValueError):
    """A dataset name or target that cannot be resolved, or a broken workspace file."""


@dataclass(frozen=True)
class Dataset:
    name: str
    source: Path          # absolute
    format: str
    hyp: Path | None = None
    unlabelled: str | None = None  # tsv: audio files the label file does not name, skip | keep


@dataclass
class ImportReport:
    """What one import produced and what it set aside."""

    dataset: Dataset
    manifest: Path
    records: int = 0
    seconds: float = 0.0
    labelled: int = 0
    with_hyp: int = 0
    unlabelled_audio: int = 0  # tsv: audio files no label line names (imported or not)
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> dict:
        out = {"records": self.records, "hours": round(self.seconds / 3600, 4),
               "labelled": self.labelled, "with_hyp": self.with_hyp,
               "set_aside": len(self.problems)}
        if self.dataset.unlabelled is not None:
            out["unlabelled_audio"] = {"files": self.unlabelled_audio,
                                       "policy": self.dataset.unlabelled}
        return out


def demo_manifest() -> Path:
    """The bundled demo corpus's manifest, inside the installed package."""
    path = Path(str(resources.files("curate").joinpath("demo", "manifest.jsonl")))
    if not path.is_file():
        raise RegistryError(f"the demo corpus is missing from this installation ({path})")
    return path


def check_name(name: str) -> None:
    if name == DEMO:
        raise RegistryError("'demo' is the built-in dataset; choose another name")
    if not _NAME.fullmatch(name):
        raise RegistryError(f"invalid dataset name {name!r}: use letters, digits, '_', '-' or '.', "
                            "starting with a letter or digit")


class Workspace:
    """The workspace file and the import cache beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.root = self.path.parent

    @classmethod
    def current(cls) -> "Workspace":
        override = os.environ.get(WORKSPACE_ENV)
        if override:
            path = Path(override).expanduser()
            return cls(path / WORKSPACE_FILE if path.is_dir() else path)
        return cls(Path.cwd() / WORKSPACE_FILE)

    def load(self) -> dict[str, Dataset]:
        if not self.path.exists():
            return {}
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))["datasets"]
            return {name: Dataset(name, self._absolute(e["source"]), e["format"],
                                  self._absolute(e["hyp"]) if e.get("hyp") else None,
                                  e.get("unlabelled"))
                    for name, e in entries.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RegistryError(f"{self.path}: not a valid curate workspace file ({e!r}); "
                                "fix or delete it") from None

    def save(self, datasets: dict[str, Dataset]) -> None:
        entries = {}
        for name in sorted(datasets):
            d = datasets[name]
            entries[name] = {"source": self._portable(d.source), "format": d.format,
                             "hyp": self._portable(d.hyp) if d.hyp else None}
            if d.unlabelled is not None:
                entries[name]["unlabelled"] = d.unlabelled
        atomic_write_text(self.path, json.dumps({"datasets": entries}, indent=2,
                                                ensure_ascii=False) + "\n")

    def cache(self, name: str) -> Path:
        return self.root / CACHE_DIR / name

    def manifest(self, name: str) -> Path:
        """The imported manifest of dataset ``name``, in its cache folder."""
        return self.cache(name) / "manifest.jsonl"

    def remove(self, name: str) -> None:
        datasets = self.load()
        if name not in datasets:
            raise RegistryError(unknown_message(name, datasets))
        del datasets[name]
        self.save(datasets)
        shutil.rmtree(self.cache(name), ignore_errors=True)

    def _portable(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _absolute(self, stored: str) -> Path:
        return Path(os.path.normpath(self.root / stored))


def unknown_message(name: str, datasets: dict) -> str:
    known = ", ".join([DEMO, *sorted(datasets)])
    return (f"unknown dataset '{name}'. Known datasets: {known}. Register one with "
            "`curate datasets add NAME PATH`, or pass a manifest .jsonl or a run directory")


def fingerprint(dataset: Dataset) -> dict:
    """What an import depends on besides the audio samples: a change in any of it means
    re-import. For a folder of audio, that includes which audio files it holds."""
    from manifests.importers import index_files, tsv_folder

    files = index_files(dataset.source, dataset.format)
    if dataset.hyp:
        files.append(dataset.hyp)
    stamp = []
    for f in files:
        st = f.stat()
        stamp.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    out = {"curate": __version__, "format": dataset.format, "source": str(dataset.source),
           "hyp": str(dataset.hyp) if dataset.hyp else None, "files": stamp}
    if dataset.format == "tsv":
        out["unlabelled"] = dataset.unlabelled
        out["audio_files"] = tsv_folder.audio_listing(dataset.source)
    return out


def import_dataset(ws: Workspace, dataset: Dataset,
                   on_record: Callable[[Record], None] | None = None) -> ImportReport:
    """Import ``dataset`` into its cache folder, atomically; returns the report.

    Nothing is written when no record is usable: the previous cache, if any, stays in place.
    """
    cache = ws.cache(dataset.name)
    report = ImportReport(dataset, ws.manifest(dataset.name))
    stamp = fingerprint(dataset)
    problems = Problems()
    counts: Counter = Counter()
    try:
        with ManifestWriter(report.manifest) as writer:
            for record in _read(dataset, problems, counts):
                writer.write(record)
                report.records += 1
                report.seconds += record.duration
                report.labelled += record.labelled
                report.with_hyp += record.hyp is not None
                if on_record:
                    on_record(record)
            if report.records == 0:
                raise _NothingUsable
    except _NothingUsable:
        if not any(cache.iterdir()):
            cache.rmdir()   # the writer made the folder; leave no trace of a failed first import
    report.problems = list(problems)
    report.unlabelled_audio = counts["unlabelled"]
    if report.records:
        _ignore_cache(ws)
        from .checks.pii import redact_text  # the list is read and shared: ids can hold numbers
        atomic_write_text(cache / "problems.txt",
                          "".join(f"{redact_text(str(p))}\n" for p in report.problems))
        atomic_write_text(cache / "import.json", json.dumps(
            {"fingerprint": stamp, "summary": report.summary()}, indent=2, ensure_ascii=False))
    return report


def _read(dataset: Dataset, problems: Problems, counts: Counter):
    """The dataset's records; a folder of audio is read with its unlabelled policy, counting its
    unlabelled audio files in ``counts``."""
    from manifests.importers import read_source, tsv_folder
    from manifests.importers.hyp import HypAttacher

    if dataset.format != "tsv":
        yield from read_source(dataset.source, dataset.format, problems, dataset.hyp)
        return
    # read_source passes no importer options: the tsv importer is called here, with the hyp
    # attached as read_source attaches it.
    records = tsv_folder.read(dataset.source, problems, dataset.unlabelled or "skip", counts)
    if dataset.hyp is None:
        yield from records
        return
    attach = HypAttacher(dataset.hyp, problems)
    yield from attach(records)
    attach.report_unmatched()


class _NothingUsable(Exception):
    """Aborts the manifest writer so an import with no usable record leaves no file."""


def _ignore_cache(ws: Workspace) -> None:
    """The cache is derived data: keep it out of git even where the team commits the workspace."""
    marker = ws.root / ".curate" / ".gitignore"
    if not marker.exists():
        atomic_write_text(marker, "*\n")


def cached_summary(ws: Workspace, dataset: Dataset) -> dict | None:
    """The summary of the last import when it is still fresh, else None."""
    try:
        meta = json.loads((ws.cache(dataset.name) / "import.json").read_text(encoding="utf-8"))
        fresh = (meta["fingerprint"] == fingerprint(dataset)
                 and ws.manifest(dataset.name).is_file())
    except (OSError, ValueError, KeyError):
        return None
    return meta["summary"] if fresh else None


def dataset_manifest(ws: Workspace, dataset: Dataset) -> Path:
    """The dataset's manifest, imported again first if it is missing or its source changed."""
    from manifests.importers import SourceError

    if not dataset.source.exists():
        raise RegistryError(f"the source of dataset '{dataset.name}' ({dataset.source}) does not "
                            f"exist any more; fix the path in {ws.path} or run "
                            f"`curate datasets remove {dataset.name}`")
    try:
        if cached_summary(ws, dataset) is not None:
            return ws.manifest(dataset.name)
        print(f"curate: importing dataset '{dataset.name}' from {dataset.source} "
              "(new or changed since the last import)", file=sys.stderr)
        report = import_dataset(ws, dataset)
    except (SourceError, OSError) as e:
        raise RegistryError(f"dataset '{dataset.name}': {e}") from None
    if not report.records:
        raise RegistryError(f"dataset '{dataset.name}': no usable record in {dataset.source} "
                            f"({len(report.problems)} problems, e.g. {report.problems[0]})"
                            if report.problems else
                            f"dataset '{dataset.name}': no usable record in {dataset.source}")
    if report.problems:
        print(f"curate: {report.records} records imported, {len(report.problems)} items set "
              f"aside (listed in {ws.cache(dataset.name) / 'problems.txt'})", file=sys.stderr)
    return report.manifest


def resolve_manifest(target: str) -> Path:
    """The manifest a command should read for ``target``: a registered dataset name, the built-in
    ``demo``, a manifest ``.jsonl`` file, or a run directory holding ``manifest.jsonl``. A run
    directory, or a manifest in one, is read only when complete and as the run wrote it."""
    try:
        return _resolve_manifest(target)
    except RunDirError as e:
        raise RegistryError(str(e)) from None


def _resolve_manifest(target: str) -> Path:
    if target == DEMO:
        return demo_manifest()
    ws = Workspace.current()
    datasets = ws.load()
    if target in datasets:
        return dataset_manifest(ws, datasets[target])
    path = Path(target)
    if path.is_file():
        if path.suffix != ".jsonl":
            raise RegistryError(f"{path} is not a manifest (.jsonl); to use another format, "
                                f"register it with `curate datasets add NAME {path}`")
        return checked_manifest(path)
    if is_run_dir(path):
        return open_run(path).file("manifest")
    if path.is_dir():
        manifest = path / "manifest.jsonl"
        if manifest.is_file():
            return manifest
        raise RegistryError(f"{path} holds no manifest.jsonl; to import a data folder, register "
                            f"it with `curate datasets add NAME {path}`")
    raise RegistryError(unknown_message(target, datasets))
