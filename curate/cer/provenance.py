"""Where a hypothesis file came from: the sidecar ``OUT.json`` that ``curate infer`` writes next to
``OUT`` (``base2.tsv`` → ``base2.tsv.json``), and how the scorer reads it back.

The sidecar holds the model (path, family, the checkpoint's training config and step), the task,
prompt style, decoding settings, the data it ran on (sha256 of each input manifest) and the code
version, plus the sha256 of the hypothesis file itself: a sidecar whose hypothesis file was
replaced afterwards no longer describes it and is ignored, with a note. A hypothesis file made
elsewhere has no sidecar; that is fine.
"""
from __future__ import annotations

import json
from pathlib import Path

from manifests.jsonl import atomic_write_text
from manifests.rundir import EVALUATION, file_name, sha256_of

SIDECAR_VERSION = 1
TRAIN_RECORD = "train.json"          # what curate train saves in its output folder
TRAINER_STATE = "trainer_state.json"  # what the Trainer saves in checkpoints/checkpoint-N
ADAPTER_FOLDER = "adapter"           # curate train --merge-lora keeps the adapter here


def sidecar_path(hyp: Path) -> Path:
    return hyp.with_name(hyp.name + ".json")


def write_sidecar(hyp: Path, info: dict) -> Path:
    """Write ``info`` beside ``hyp`` (atomically), stamped with the hypothesis file's sha256."""
    path = sidecar_path(hyp)
    record = {"curate_hyp": SIDECAR_VERSION, **info, "hyp_sha256": sha256_of(hyp)}
    atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n")
    return path


def read_sidecar(hyp: Path) -> tuple[dict | None, str | None]:
    """(the sidecar's record, None), or (None, why it is not used); (None, None) when there is
    none."""
    path = sidecar_path(hyp)
    if not path.is_file():
        return None, None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, f"{path}: not a readable sidecar ({e}); provenance left out"
    if not isinstance(record, dict) or record.get("curate_hyp") != SIDECAR_VERSION:
        return None, f"{path}: not a curate infer sidecar; provenance left out"
    if record.get("hyp_sha256") != sha256_of(hyp):
        return None, (f"{path}: describes another version of {hyp} (the file changed after "
                      "curate infer wrote it); provenance left out")
    return record, None


def checkpoint_info(model_dir: Path) -> dict:
    """The training config and step of a checkpoint folder, from what curate train saved:
    ``train.json`` in the folder (or its parent, for the adapter folder of a merged run, or
    two up, for ``checkpoints/checkpoint-N``), the step of a ``checkpoint-N`` from its
    ``trainer_state.json``. Empty where the folder was not written by curate train."""
    model_dir = Path(model_dir)
    info: dict = {}
    for folder in (model_dir, model_dir.parent, model_dir.parent.parent):
        record = _json(folder / TRAIN_RECORD)
        if record is not None and (folder == model_dir or model_dir.name == ADAPTER_FOLDER
                                   or (model_dir / TRAINER_STATE).is_file()):
            # the loss curve is in the checkpoint's TensorBoard logs; the config is what matters
            info["train"] = {k: v for k, v in record.items() if k != "log_history"}
            info["step"] = record.get("global_step")
            info["train_record"] = str(folder / TRAIN_RECORD)
            break
    state = _json(model_dir / TRAINER_STATE)
    if state is not None and "global_step" in state:
        info["step"] = state["global_step"]
    config = _json(model_dir / "config.json") or {}
    adapter = _json(model_dir / "adapter_config.json") or {}
    if config.get("model_type"):
        info["model_type"] = config["model_type"]
    if adapter.get("base_model_name_or_path"):
        info["base_model"] = adapter["base_model_name_or_path"]
    return info


def input_fingerprints(paths: list[Path]) -> list[dict]:
    """sha256 of every manifest a run read (a run directory's manifest.jsonl and
    eval_only.jsonl)."""
    out = []
    for p in paths:
        files = [p / file_name(kind) for kind in EVALUATION] if p.is_dir() else [p]
        out.append({"path": str(p), "files": [{"name": f.name, "sha256": sha256_of(f)}
                                              for f in files if f.is_file()]})
    return out


def _json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
