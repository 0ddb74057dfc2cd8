"""sample stage: seeded, nested subsets by hours or records, optionally stratified."""
from collections import Counter
from pathlib import Path

import pytest

import curate
from curate.stage import Context, Item, ParamError
from manifests import Record, read_manifest
from plugins.sample import Sample

DEMO = Path(curate.__file__).parent / "demo" / "manifest.jsonl"


def corpus(n: int = 3000) -> list[Record]:
    """A metadata-only corpus (sample never reads audio): 6 speakers of unequal size."""
    recs = []
    for i in range(n):
        speaker = f"spk{min(5, i % 10)}"  # spk5 holds half of the records
        recs.append(Record(id=f"utt{i:05d}", audio="/x.flac", duration=1.0 + (i * 7919) % 90 / 10,
                           speaker=speaker))
    return recs


def chosen(inputs, seed=0, **settings) -> set[str]:
    stage = Sample(**settings)
    stage.prepare(iter(inputs), Context(seed=seed))
    out = list(stage(iter(Item(r, None) for r in inputs), Context(seed=seed)))
    assert len(out) == len(inputs)
    assert all(it.rejected in (None, "not_sampled") for it in out)
    return {it.record.id for it in out if not it.rejected}


def hours(records, ids) -> float:
    return sum(r.duration for r in records if r.id in ids) / 3600


def test_hours_subsets_fit_and_are_nested():
    recs = corpus()
    total = hours(recs, {r.id for r in recs})
    subsets = [chosen(recs, hours=h) for h in (0.5, 1.0, 2.0, 4.0)]
    for h, ids in zip((0.5, 1.0, 2.0, 4.0), subsets):
        assert h - 10 / 3600 < hours(recs, ids) <= h  # within one record of the target
    assert all(a < b for a, b in zip(subsets, subsets[1:])), "smaller inside larger"
    assert total > 4.0


def test_same_seed_same_subset_other_seed_other_subset():
    recs = corpus()
    assert chosen(recs, seed=1, hours=1.0) == chosen(recs, seed=1, hours=1.0)
    a, b = chosen(recs, seed=1, hours=1.0), chosen(recs, seed=2, hours=1.0)
    assert a != b and len(a & b) < 0.6 * len(a)
    # A record's place does not depend on the other records: dropping some keeps the rest's order.
    fewer = [r for r in recs if not r.id.endswith("7")]
    assert chosen(fewer, seed=1, records=300) <= chosen(recs, seed=1, records=400)


def test_records_count_is_exact_and_nested():
    recs = corpus()
    small, large = chosen(recs, records=100), chosen(recs, records=1000)
    assert len(small) == 100 and len(large) == 1000 and small < large


@pytest.mark.parametrize("settings", [{"hours": 1.0}, {"records": 400}])
def test_stratified_subsets_keep_each_speakers_share(settings):
    recs = corpus()
    ids = chosen(recs, stratify="speaker", **settings)
    if "hours" in settings:
        share_in = _share(recs, lambda r: r.duration)
        share_out = _share([r for r in recs if r.id in ids], lambda r: r.duration)
    else:
        share_in = _share(recs, lambda r: 1)
        share_out = _share([r for r in recs if r.id in ids], lambda r: 1)
    for spk, share in share_in.items():
        assert share_out[spk] == pytest.approx(share, abs=0.01)
    smaller = chosen(recs, stratify="speaker", **{k: v / 2 for k, v in settings.items()})
    assert smaller < ids


def _share(recs, weight):
    totals = Counter()
    for r in recs:
        totals[r.speaker] += weight(r)
    grand = sum(totals.values())
    return {k: v / grand for k, v in totals.items()}


def test_derived_and_merged_records_follow_their_source():
    """An item follows the input records it carries (Item.sources, kept by the executor through
    slices and merges), never what its id looks like."""
    recs = corpus(200)
    stage = Sample(records=50)
    stage.prepare(iter(recs), Context(seed=0))
    picked = stage.chosen
    inside = sorted(picked)[0]
    outside = next(r.id for r in recs if r.id not in picked)
    derived = [Item(Record(id="window-1", audio="/x", duration=3), None, sources=(inside,)),
               Item(Record(id=f"{inside}#c1#noise", audio="/x", duration=3), None,
                    sources=(outside,)),
               Item(Record(id="merge:a+b", audio="/x", duration=9), None,
                    sources=(outside, inside))]
    out = list(stage(iter(derived), Context(seed=0)))
    assert [it.rejected for it in out] == [None, "not_sampled", None]


def test_on_the_demo_manifest():
    recs = list(read_manifest(DEMO))
    ids = chosen(recs, seed=5, hours=0.05, stratify="batch")
    assert 0.045 < hours(recs, ids) <= 0.05
    assert {r.batch for r in recs if r.id in ids} == {r.batch for r in recs}


@pytest.mark.parametrize("settings, message", [
    ({}, "exactly one of"), ({"hours": 1, "records": 5}, "exactly one of"),
    ({"hours": 0}, "must be > 0"), ({"records": "x"}, "expected int"),
])
def test_bad_parameters_are_refused(settings, message):
    with pytest.raises(ParamError, match=message):
        Sample(**settings)


def test_running_without_the_input_pass_is_an_error():
    with pytest.raises(RuntimeError, match="prepare"):
        list(Sample(records=1)(iter([]), Context()))
