"""The manifest record: one utterance (or a slice of a longer recording)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Field order on disk; unknown fields follow in the order they were read.
FIELDS = ("id", "audio", "offset", "duration", "text", "hyp", "speaker", "batch", "segments",
          "speech", "sample_rate", "channels", "tags", "split", "lineage")
SPLITS = ("train", "dev", "test", "eval_only")


class RecordError(ValueError):
    """A record that does not satisfy the manifest contract."""


@dataclass(slots=True)
class Record:
    """One manifest line. ``audio`` is an absolute path in memory; relative on disk.

    ``speech`` holds speech-active intervals ``[[start, end], ...]`` in seconds relative to the
    record's own start (set by the vad stage). ``extra`` keeps fields curate does not know.
    """

    id: str
    audio: str
    duration: float
    offset: float = 0.0
    text: str = ""
    hyp: str | None = None
    speaker: str | None = None
    batch: str | None = None
    segments: list[dict] | None = None
    speech: list[list[float]] | None = None
    sample_rate: int | None = None
    channels: int | None = None
    tags: list[str] = field(default_factory=list)
    split: str = "train"
    lineage: list[dict] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.offset + self.duration

    @property
    def labelled(self) -> bool:
        return bool(self.text.strip())

    def get(self, name: str) -> Any:
        """A record field's value by name, else the custom field ``extra[name]`` (None if absent)."""
        return getattr(self, name) if name in FIELDS else self.extra.get(name)

    def has_tag(self, prefix: str) -> bool:
        """True if a tag equals ``prefix`` or starts with ``prefix:``."""
        return any(t == prefix or t.startswith(prefix + ":") for t in self.tags)

    def add_tag(self, tag: str) -> None:
        if tag not in self.tags:
            self.tags.append(tag)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "audio": self.audio, "offset": round(self.offset, 4),
                             "duration": round(self.duration, 4), "text": self.text}
        for name in ("hyp", "speaker", "batch", "segments", "speech", "sample_rate", "channels"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if self.tags:
            d["tags"] = list(self.tags)
        d["split"] = self.split
        if self.lineage:
            d["lineage"] = list(self.lineage)
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Record":
        """Build a record from a parsed JSON object, raising RecordError with the reason."""
        if not isinstance(d, dict):
            raise RecordError("not a JSON object")
        for name in ("id", "audio", "duration"):
            if name not in d:
                raise RecordError(f"missing field '{name}'")
        rid, audio = d["id"], d["audio"]
        if not isinstance(rid, str) or not rid:
            raise RecordError("'id' must be a non-empty string")
        if not isinstance(audio, str) or not audio:
            raise RecordError(f"{rid}: 'audio' must be a non-empty string")
        duration = _number(d, "duration", rid)
        offset = _number(d, "offset", rid, default=0.0)
        if duration < 0 or offset < 0:
            raise RecordError(f"{rid}: negative offset or duration")
        text = d.get("text", "")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise RecordError(f"{rid}: 'text' must be a string")
        hyp = d.get("hyp")
        if hyp is not None and not isinstance(hyp, str):
            raise RecordError(f"{rid}: 'hyp' must be a string")
        tags = d.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RecordError(f"{rid}: 'tags' must be a list of strings")
        split = d.get("split", "train")
        if split not in SPLITS:
            raise RecordError(f"{rid}: 'split' must be one of {', '.join(SPLITS)}, got {split!r}")
        segments = d.get("segments")
        if segments is not None:
            if not isinstance(segments, list) or not all(
                    isinstance(s, dict) and {"start", "end"} <= s.keys() for s in segments):
                raise RecordError(f"{rid}: 'segments' must be a list of {{start, end, text}}")
        extra = {k: v for k, v in d.items() if k not in FIELDS}
        return cls(id=rid, audio=audio, offset=offset, duration=duration, text=text, hyp=hyp,
                   speaker=_opt_str(d.get("speaker")), batch=_opt_str(d.get("batch")),
                   segments=segments, speech=d.get("speech"), sample_rate=d.get("sample_rate"),
                   channels=d.get("channels"), tags=list(tags), split=split,
                   lineage=list(d.get("lineage") or []), extra=extra)


def _number(d: dict, name: str, rid: str, default: float | None = None) -> float:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"{rid}: '{name}' must be a finite number, got {value!r}")
    return float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
