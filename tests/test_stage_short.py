"""short stage: records under min seconds are rejected as too_short, the rest pass untouched."""
import json
from pathlib import Path

import pytest

import curate
from curate.stage import Context, Item, ParamError
from manifests import read_manifest
from plugins.short import Short

DEMO = Path(curate.__file__).parent / "demo"


def test_rejects_the_demo_clips_under_one_second_and_nothing_else():
    records = list(read_manifest(DEMO / "manifest.jsonl"))
    items = [Item(r, None) for r in records]  # short reads durations only: no audio needed
    out = list(Short()(iter(items), Context()))
    assert [it.record.id for it in out] == [r.id for r in records]  # rejected ones are yielded
    rejected = {it.record.id for it in out if it.rejected}
    assert rejected == {r.id for r in records if r.duration < 1.0}
    assert set(json.loads((DEMO / "planted.json").read_text())["short"]) <= rejected
    assert all(it.rejected == "too_short" and it.rejected_by == "short"
               for it in out if it.rejected)
    assert all(it.duration >= 1.0 for it in out if not it.rejected)


def test_min_is_configurable():
    records = list(read_manifest(DEMO / "manifest.jsonl"))
    out = list(Short(min="3.0")(iter([Item(r, None) for r in records]), Context()))
    kept = [it.duration for it in out if not it.rejected]
    assert kept and min(kept) >= 3.0
    assert len(kept) == sum(r.duration >= 3.0 for r in records)


def test_negative_min_is_refused():
    with pytest.raises(ParamError, match="short.min must be >= 0"):
        Short(min=-1)
