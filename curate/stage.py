"""The stage contract: what a curation stage is, its typed parameters, and the item it transforms.

A stage takes a stream of items and yields items, like a datatrove pipeline step. A filter yields
fewer; a splitter yields more; a packer yields one for several. Rejected items are yielded too,
marked with :meth:`Item.reject`; the executor takes them out of the stream and writes them to
``rejected.jsonl``. Stages never do I/O on the output: the executor writes changed audio once.

The executor holds every stage to that contract (see ``curate.engine.executor._staged``): a
record fed to a stage that never comes back out — not yielded itself, and not a parent of what is
yielded (``Item.slice``, ``Item.merge`` record what an item was made of) — is rejected
``lost_by_stage``; an exception a stage raises rejects the records it held at that moment,
``stage_error:<Type>`` with the message, and the stage starts again on the rest of its input.

The executor runs the whole chain of stages in worker processes, each over a shard of consecutive
records (about 30 minutes of input audio), so a stage that looks across records (merge30) sees
them in source order, within a shard. A stage that groups records by a field says so
(:meth:`Stage.groups_by`), and shards are then cut only where that field's value changes.

Randomness is drawn from :meth:`Context.rng`, seeded by the run seed, the stage and the record id,
so results do not depend on worker count or order; what was drawn goes into the record's lineage.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Iterable, Iterator

import numpy as np

from manifests import Record
from manifests.audio import TARGET_SR as SR  # the rate items carry: the one audio is decoded at


class ParamError(ValueError):
    """A stage or parameter the user named that does not exist or does not parse."""


@dataclass(frozen=True)
class Param:
    """A typed stage parameter. ``type`` is one of: float, int, str, bool, range, list."""

    type: str
    default: Any
    help: str
    choices: tuple | None = None

    def parse(self, value: Any) -> Any:
        """Coerce a command-line string or a TOML value to this parameter's type."""
        t = self.type
        try:
            if t == "float":
                out = float(value)
            elif t == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                out = int(value)
            elif t == "bool":
                if isinstance(value, bool):
                    out = value
                elif str(value).lower() in ("1", "true", "yes", "on"):
                    out = True
                elif str(value).lower() in ("0", "false", "no", "off"):
                    out = False
                else:
                    raise ValueError
            elif t == "range":
                if isinstance(value, (list, tuple)):
                    lo, hi = value
                else:
                    lo, hi = str(value).split(":")
                out = (float(lo), float(hi))
                if out[0] > out[1]:
                    raise ValueError
            elif t == "list":
                items = value if isinstance(value, (list, tuple)) else str(value).split(",")
                out = tuple(str(v).strip() for v in items if str(v).strip())
            elif t == "str":
                out = None if value is None else str(value)
            else:
                raise AssertionError(f"unknown param type {t}")
        except (TypeError, ValueError):
            hint = {"range": " (LO:HI)", "list": " (A,B,...)"}.get(t, "")
            raise ParamError(f"expected {t}{hint}, got {value!r}") from None
        if self.choices and out not in self.choices:
            raise ParamError(f"expected one of {', '.join(map(str, self.choices))}, got {out!r}")
        return out

    def describe_default(self) -> str:
        d = self.default
        if self.type == "range" and d is not None:
            return f"{d[0]:g}:{d[1]:g}"
        if self.type == "list":
            return ",".join(d) if d else "(none)"
        return "(none)" if d is None else str(d)


@dataclass
class Item:
    """A record with its decoded audio (16 kHz mono float32) as it flows through the stages.

    While ``changed`` is False the audio equals the source slice ``[offset, offset+duration)`` of
    ``record.audio``, and the record can keep pointing there. A stage that alters samples sets
    ``changed``; the executor then writes the audio once at the end.
    """

    record: Record
    audio: np.ndarray | None
    changed: bool = False
    rejected: str | None = None       # reason, when a stage rejected the item
    rejected_by: str | None = None    # that stage's name
    sources: tuple[str, ...] = ()     # ids of the input records this item came from (accounting)
    parents: tuple[str, ...] = ()     # ids of the items fed to the stage that this one was made of

    @property
    def duration(self) -> float:
        return self.record.duration

    def reject(self, stage: str, reason: str) -> "Item":
        self.rejected, self.rejected_by = reason, stage
        return self

    def slice(self, start: float, end: float, new_id: str | None = None) -> "Item":
        """A new item for ``[start, end)`` seconds of this one, with speech and segments shifted."""
        start = max(0.0, start)
        end = min(self.duration, end)
        a, b = int(round(start * SR)), int(round(end * SR))
        rec = replace(self.record, id=new_id or self.record.id, offset=self.record.offset + start,
                      duration=(b - a) / SR, tags=list(self.record.tags),
                      lineage=list(self.record.lineage), extra=dict(self.record.extra))
        rec.speech = _shift(self.record.speech, start, end)
        rec.segments = None if self.record.segments is None else [
            {**s, "start": round(s["start"] - start, 3), "end": round(s["end"] - start, 3)}
            for s in self.record.segments if s["start"] >= start - 1e-6 and s["end"] <= end + 1e-6]
        audio = None if self.audio is None else self.audio[a:b]
        return Item(rec, audio, self.changed, sources=self.sources, parents=(self.record.id,))

    @classmethod
    def merge(cls, items: list["Item"], record: Record, audio: np.ndarray) -> "Item":
        """A new item made of ``items`` (a packed window): it carries their provenance, so the
        executor knows every part came out, and which input records it holds."""
        return cls(record, audio, changed=True, sources=tuple(s for it in items for s in it.sources),
                   parents=tuple(it.record.id for it in items))


def _shift(intervals, start: float, end: float):
    if intervals is None:
        return None
    out = []
    for s, e in intervals:
        s, e = max(s, start), min(e, end)
        if e > s:
            out.append([round(s - start, 3), round(e - start, 3)])
    return out


@dataclass
class Context:
    """What the executor gives each stage: the run seed, for per-record random draws."""

    seed: int = 0

    def rng(self, stage: str, record_id: str) -> np.random.Generator:
        digest = hashlib.blake2b(f"{self.seed}\0{stage}\0{record_id}".encode(), digest_size=8)
        return np.random.default_rng(int.from_bytes(digest.digest(), "little"))


class Stage(ABC):
    """Base class of a curation stage. Subclasses set ``name``, ``summary``, ``params``.

    Parameters are documented where they are defined (``params``) and become attributes of the
    instance after validation, e.g. ``self.min``.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    needs_audio: ClassVar[bool] = True
    # Joins, splits or edits record texts (merge30, chunk30): personal data may appear or be cut.
    rewrites_text: ClassVar[bool] = False
    # Must read every text as it is and after every rewrite (sensitive): see build_stages.
    text_guard: ClassVar[bool] = False

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            valid = ", ".join(sorted(self.params)) or "(none)"
            raise ParamError(f"stage '{self.name}' has no parameter {', '.join(unknown)}; "
                             f"valid: {valid}")
        # Parameters become instance attributes: one named like an attribute of the class (a
        # method, `name`, `values`) would silently replace it.
        shadowing = sorted(p for p in self.params if p == "values" or hasattr(type(self), p))
        if shadowing:
            raise ParamError(f"stage '{self.name}': parameter name(s) {', '.join(shadowing)} "
                             "would shadow attributes of the stage; rename them")
        self.values: dict[str, Any] = {}
        for pname, p in self.params.items():
            if pname in values:
                try:
                    v = p.parse(values[pname])
                except ParamError as e:
                    raise ParamError(f"{self.name}.{pname}: {e}") from None
            else:
                v = p.default
            self.values[pname] = v
            setattr(self, pname, v)
        self.validate()

    def validate(self) -> None:
        """Cross-parameter checks; raise ParamError."""

    def prepare(self, records: Iterable[Record], ctx: Context) -> None:
        """Optional pre-pass over the input records (metadata only), in the main process before
        any audio is read; what it computes travels to the workers with the stage."""

    def groups_by(self) -> str | None:
        """The record field (a ``Record`` field or a custom ``extra`` one, as ``Record.get`` reads
        it) whose runs of equal values this stage treats as groups, or None (the default) for a
        stage that does not group records.

        The executor never cuts a shard between two consecutive input records that share this
        value, so a group is seen whole by one worker and the output does not depend on the
        shard size; a group longer than the shard size makes one larger shard. Values are read
        from the input records, so the field should be one the stages before this one leave as
        it is. Only runs of consecutive records are kept together: the input is not sorted, and
        records of one value apart in it may go to different shards. A stage that packs runs of
        consecutive records (merge30) packs those apart anyway, unless every record between them
        is dropped before it: then one shard would have packed them together, and a shard cut
        between them does not. With several grouping stages a shard is cut only where every one
        of their fields changes.
        """
        return None

    @abstractmethod
    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        """Transform the stream; yield rejected items too, marked with Item.reject."""

    def lineage(self, **drawn: Any) -> dict:
        """A lineage entry: this stage, its parameters, and what it drew for the record."""
        entry = {"stage": self.name}
        entry.update(self.json_values())
        entry.update(drawn)
        return entry

    def json_values(self) -> dict:
        """The parameter values as JSON writes them (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()}
