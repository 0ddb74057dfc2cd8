"""Tell a source's format from what is in it; refuse to guess when several formats fit."""
from __future__ import annotations

from pathlib import Path

from .common import SourceError, audio_files
from .nemo import SUFFIXES as NEMO_SUFFIXES
from .nemo import first_json_object, looks_like_nemo
from .tsv_folder import first_line_has_tab, label_candidates
from .wenet import LIST_NAME

EXPECTED = ("a Kaldi data dir (wav.scp), a WeNet data.list, a NeMo .json/.jsonl manifest, "
            "or a folder of audio with a name<TAB>text file")


def detect(path) -> str:
    """The one format that fits ``path``; SourceError naming the candidates otherwise."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path} does not exist")
    found = _dir_candidates(path) if path.is_dir() else _file_candidates(path)
    if len(found) == 1:
        return next(iter(found))
    if found:
        listed = "; ".join(f"{fmt} ({why})" for fmt, why in found.items())
        raise SourceError(f"{path} is ambiguous: it could be {listed}. "
                          f"Pass --format {'|'.join(found)} to choose")
    hint = ""
    obj = None if path.is_dir() else first_json_object(path)
    if isinstance(obj, dict) and {"id", "audio", "duration"} <= obj.keys():
        hint = " It looks like a curate manifest already: pass it to commands directly."
    raise SourceError(f"cannot tell the format of {path}: expected {EXPECTED}.{hint}")


def _dir_candidates(d: Path) -> dict[str, str]:
    found = {}
    if (d / "wav.scp").is_file():
        found["kaldi"] = "has wav.scp"
    if (d / LIST_NAME).is_file():
        found["wenet"] = f"has {LIST_NAME}"
    nemo = [p.name for p in sorted(d.iterdir()) if p.is_file() and p.suffix in NEMO_SUFFIXES
            and looks_like_nemo(p)]
    if nemo:
        found["nemo"] = f"has {', '.join(nemo)}"
    labels = label_candidates(d)
    if labels and next(audio_files(d), None) is not None:
        found["tsv"] = f"audio files and {', '.join(p.name for p in labels)}"
    return found


def _file_candidates(path: Path) -> dict[str, str]:
    if path.name == "wav.scp":
        return {"kaldi": "a wav.scp file"}
    obj = first_json_object(path)
    if isinstance(obj, dict):
        if {"key", "wav"} <= obj.keys():
            return {"wenet": "JSON lines with key and wav"}
        if "audio_filepath" in obj:
            return {"nemo": "JSON lines with audio_filepath"}
        return {}
    if first_line_has_tab(path):
        return {"tsv": "name<TAB>text lines"}
    return {}

