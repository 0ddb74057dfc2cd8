"""The manifest record: one utterance (or a slice of a longer recording)."""
from __future__ import annotations

import math
import sys
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
    def from_dict(cls, d: dict[str, Any], *, surrogates: bool = True) -> "Record":
        """Build a record from a parsed JSON object, raising RecordError naming the id and field.

        Every known field's type and shape is checked here, so no later stage or writer meets a
        malformed value. JSON escapes such as ``"\\ud800"`` decode to lone surrogates, which no
        UTF-8 writer accepts: every string in ``d`` is checked for them unless ``surrogates`` is
        False (a reader that saw no such escape in the raw line skips the walk; it is the hot path).
        """
        if not isinstance(d, dict):
            raise RecordError("not a JSON object")
        for name in ("id", "audio", "duration"):
            if name not in d:
                raise RecordError(f"missing field '{name}'")
        rid, audio = d["id"], d["audio"]
        if not isinstance(rid, str) or not rid:
            raise RecordError("'id' must be a non-empty string")
        if surrogates:
            _check_unicode(d)
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
            raise RecordError(f"{rid}: 'text' must be a string, got {_kind(text)}")
        hyp = d.get("hyp")
        if hyp is not None and not isinstance(hyp, str):
            raise RecordError(f"{rid}: 'hyp' must be a string, got {_kind(hyp)}")
        tags = d.get("tags", [])
        if type(tags) is not list or tags and not all(isinstance(t, str) for t in tags):
            raise RecordError(f"{rid}: 'tags' must be a list of strings")
        split = d.get("split", "train")
        if split not in SPLITS:
            raise RecordError(f"{rid}: 'split' must be one of {', '.join(SPLITS)}, got {split!r}")
        lineage = d.get("lineage")
        if lineage is None:
            lineage = []
        elif type(lineage) is not list:
            raise RecordError(f"{rid}: 'lineage' must be a list of objects, got {_kind(lineage)}")
        for entry in lineage:
            if type(entry) is not dict:
                raise RecordError(f"{rid}: 'lineage' must be a list of objects, got "
                                  f"{_kind(entry)} in it")
        extra = {k: v for k, v in d.items() if k not in FIELDS}
        if "parts" in extra:
            _check_parts(extra["parts"], rid)
        # Each check below is one type test when the field is absent or well-formed (the hot path
        # reads millions of records); the helpers explain what is wrong otherwise.
        speaker, batch = d.get("speaker"), d.get("batch")
        if type(speaker) is not str:
            speaker = _label(speaker, "speaker", rid)
        if type(batch) is not str:
            batch = _label(batch, "batch", rid)
        sample_rate, channels = d.get("sample_rate"), d.get("channels")
        if sample_rate is not None and not (type(sample_rate) is int and sample_rate > 0):
            _bad_count(sample_rate, "sample_rate", rid)
        if channels is not None and not (type(channels) is int and channels > 0):
            _bad_count(channels, "channels", rid)
        speech, segments = d.get("speech"), d.get("segments")
        if speech is not None:
            _check_speech(speech, rid)
        if segments is not None:
            _check_segments(segments, rid)
        return cls(id=rid, audio=audio, offset=offset, duration=duration, text=text, hyp=hyp,
                   speaker=speaker, batch=batch, segments=segments, speech=speech,
                   sample_rate=sample_rate, channels=channels, tags=list(tags), split=split,
                   lineage=list(lineage), extra=extra)


_INF = math.inf
_MAX = sys.float_info.max


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool) that converts to a float."""
    kind = type(value)
    if kind is float:
        return -_INF < value < _INF   # False for nan too
    if kind is int:
        return -_MAX <= value <= _MAX  # exact comparison: a 400-digit integer is out
    return (kind is not bool and isinstance(value, (int, float))
            and -_MAX <= value <= _MAX)


def _number(d: dict, name: str, rid: str, default: float | None = None) -> float:
    value = d.get(name, default)
    if not _is_number(value):
        raise RecordError(f"{rid}: '{name}' must be a finite number, got {_kind(value)}")
    return float(value)


def _kind(value: Any) -> str:
    """A short description of a wrong value for an error message: a number as it is, anything
    else by its type and size only — a misplaced text can hold personal data, and problem lines
    are printed and kept in run.json."""
    if value is None or isinstance(value, (bool, int, float)):
        text = repr(value)
        return text if len(text) <= 40 else f"a number of {len(text)} digits"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value)} items"
    return type(value).__name__


def _label(value: Any, name: str, rid: str) -> str | None:
    """speaker / batch that is not a string: absent, an integer (taken as its digits: corpora
    number their speakers), or an error."""
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    raise RecordError(f"{rid}: '{name}' must be a string, got {_kind(value)}")


def _bad_count(value: Any, name: str, rid: str) -> None:
    raise RecordError(f"{rid}: '{name}' must be a positive integer, got {_kind(value)}")


def _check_speech(value: Any, rid: str) -> None:
    """Speech intervals: ``[[start, end], ...]`` of finite seconds, 0 <= start <= end."""
    if type(value) is not list:
        raise RecordError(f"{rid}: 'speech' must be a list of [start, end], got {_kind(value)}")
    for i, iv in enumerate(value):
        if type(iv) is list and len(iv) == 2:
            start, end = iv
            if type(start) is float and type(end) is float and 0.0 <= start <= end < _INF:
                continue   # what the vad stage writes; the general test below takes ints too
        if not (type(iv) is list and len(iv) == 2 and _is_number(iv[0])
                and _is_number(iv[1]) and 0 <= iv[0] <= iv[1]):
            raise RecordError(f"{rid}: 'speech'[{i}] must be [start, end] in seconds with "
                              f"0 <= start <= end, got {_kind(iv)}")


def _check_segments(value: Any, rid: str) -> None:
    """Sentence timestamps: ``[{start, end, text?, hyp?}, ...]``, finite seconds, start <= end."""
    if type(value) is not list:
        raise RecordError(f"{rid}: 'segments' must be a list of {{start, end, text}}, "
                          f"got {_kind(value)}")
    for i, s in enumerate(value):
        if type(s) is dict:
            start, end = s.get("start"), s.get("end")
            if (type(start) is float and type(end) is float and -_INF < start <= end < _INF
                    and type(s.get("text", "")) is str and type(s.get("hyp", "")) is str):
                continue   # the usual case; the tests below take ints and absent text too
        where = f"{rid}: 'segments'[{i}]"
        if type(s) is not dict:
            raise RecordError(f"{where} must be an object {{start, end, text}}, got {_kind(s)}")
        for key in ("start", "end"):
            if not _is_number(s.get(key)):
                raise RecordError(f"{where}: '{key}' must be a finite number, "
                                  f"got {_kind(s.get(key))}")
        if s["start"] > s["end"]:
            raise RecordError(f"{where}: 'start' {s['start']!r} is after 'end' {s['end']!r}")
        for key in ("text", "hyp"):
            if s.get(key) is not None and type(s[key]) is not str:
                raise RecordError(f"{where}: '{key}' must be a string, got {_kind(s[key])}")


def _check_parts(value: Any, rid: str) -> None:
    """merge30's ``parts``: ``[{id, start?, end?}, ...]``; later stages follow the ids."""
    if not isinstance(value, list) or not all(
            isinstance(p, dict) and isinstance(p.get("id"), str) and p["id"]
            and all(_is_number(p[k]) for k in ("start", "end") if k in p) for p in value):
        raise RecordError(f"{rid}: 'parts' must be a list of {{id, start, end}}, "
                          f"got {_kind(value)}")


def _check_unicode(d: dict) -> None:
    """RecordError naming the first string (a key or a value, at any depth) that is not valid
    Unicode text; the id in the message is escaped, as it may be the bad string itself."""
    bad = _bad_string(d, "")
    if bad is not None:
        where, text = bad
        rid = d["id"].encode("utf-8", "backslashreplace").decode("utf-8")
        raise RecordError(f"{rid}: {where or 'a key'} holds a lone surrogate, not text "
                          f"({_kind(text)}): a \\uD800-\\uDFFF JSON escape, or a file name "
                          "that is not UTF-8")


def _bad_string(value: Any, where: str) -> tuple[str, str] | None:
    """``(field path, string)`` of the first string under ``value`` that cannot be UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where, value
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else f"'{key}'"
            found = _bad_string(key, where) or _bad_string(item, path)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _bad_string(item, f"{where}[{i}]")
            if found:
                return found
    return None
