"""What every augmentation shares (noise, speed, gain, codec, reverb): a record is changed with
probability ``p`` from draws seeded by its own id, and with ``keep_clean`` it is also kept as it
was, beside its changed copy ``ID#<stage>``.

A subclass draws (``draw``) and computes its change from the clean item without touching it
(``change``); the loop here makes the copy, applies the change, tags the record and writes the
draws to its lineage, in that order. The copy is made before the clean item is yielded: once it
is, the executor may write it and free its audio before the stage resumes.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from curate.stage import Context, Item, ParamError, Stage


@dataclass
class Change:
    """What an augmentation does to one record: its new audio, the tag that says so, what was
    drawn (for the lineage, in order), and anything else the record needs (speed's timestamps)."""

    audio: np.ndarray
    tag: str
    drawn: dict[str, Any] = field(default_factory=dict)
    after: Callable[[Item], None] | None = None


class Augmentation(Stage):
    """Base of the augmentations; subclasses define ``p`` and ``keep_clean`` among their params,
    ``draw`` and ``change``."""

    def validate(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ParamError(f"{self.name}.p must be between 0 and 1, got {self.p:g}")

    @abstractmethod
    def draw(self, record_id: str, ctx: Context):
        """This record's draws, None when it is left alone (``p``)."""

    def draw_item(self, item: Item, ctx: Context):
        return self.draw(item.record.id, ctx)

    @abstractmethod
    def change(self, item: Item, drawn, ctx: Context) -> Change | None:
        """The change ``drawn`` makes to ``item`` (not applied yet); None leaves the record as it is
        (the subclass may say why in its lineage, or reject it)."""

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        for item in items:
            drawn = self.draw_item(item, ctx)
            change = None if drawn is None else self.change(item, drawn, ctx)
            if change is None:
                yield item
                continue
            if self.keep_clean:
                copy = item.slice(0.0, item.duration, f"{item.record.id}#{self.name}")
                yield item
                item = copy
            item.audio, item.changed = change.audio, True
            if change.after is not None:
                change.after(item)
            item.record.add_tag(change.tag)
            item.record.lineage.append(self.lineage(**change.drawn))
            yield item
