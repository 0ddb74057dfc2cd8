"""short: reject clips too short to train on (a clip under ~1 s rarely holds a whole command)."""
from __future__ import annotations

from typing import Iterator

from curate.stage import Context, Item, Param, ParamError, Stage


class Short(Stage):
    name = "short"
    summary = "reject records shorter than min seconds (too_short)"
    params = {
        "min": Param("float", 1.0, "records shorter than this many seconds are rejected"),
    }
    needs_audio = False  # the duration is in the record; no need to decode a clip to drop it

    def validate(self) -> None:
        if self.min < 0:
            raise ParamError(f"short.min must be >= 0, got {self.min}")

    def __call__(self, items: Iterator[Item], ctx: Context) -> Iterator[Item]:
        for item in items:
            if item.duration < self.min:
                item.reject(self.name, "too_short")
            yield item
