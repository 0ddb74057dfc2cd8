"""The built-in stages chained by hand over the demo corpus (no executor): contracts hold.
That every transcript survives the executor exactly once is test_run_demo's."""
from pathlib import Path

import pytest

import curate
from curate.stage import SR, Context, Item
from manifests import read_manifest
from manifests.audio import load
from plugins.chunk30 import Chunk30
from plugins.merge30 import Merge30
from plugins.noise import Noise
from plugins.short import Short
from plugins.vad import Vad

DEMO = Path(curate.__file__).parent / "demo" / "manifest.jsonl"


def _map(stage, items, ctx, rejected):
    for item in items:
        for out in stage(iter([item]), ctx):
            if out.rejected:
                rejected.append(out)
            else:
                yield out


def _decoded():
    for rec in read_manifest(DEMO):
        audio = load(rec.audio, rec.offset, rec.duration)
        rec.duration = len(audio) / SR
        yield Item(rec, audio, sources=(rec.id,))


@pytest.fixture(scope="module")
def chained():
    ctx, rejected = Context(seed=3), []
    stream = _decoded()
    for stage in (Vad(), Short(), Chunk30()):
        stream = _map(stage, stream, ctx, rejected)
    merged = list(Merge30()(stream, ctx))
    out = list(_map(Noise(), merged, ctx, rejected))
    return out, rejected


def test_no_kept_record_under_one_or_over_thirty_seconds(chained):
    out, _ = chained
    assert out
    assert all(1.0 <= it.duration <= 30.0 for it in out)
    assert all(abs(len(it.audio) / SR - it.duration) < 1e-6 for it in out)
    ids = [it.record.id for it in out]
    assert len(ids) == len(set(ids))


def test_rejections_carry_reasons(chained):
    _, rejected = chained
    reasons = {(it.rejected_by, it.rejected) for it in rejected}
    assert ("short", "too_short") in reasons
    assert ("chunk30", "long_without_timestamps") in reasons
    assert all(it.rejected and it.rejected_by for it in rejected)


def test_every_kept_record_got_noise_at_a_recorded_snr(chained):
    out, _ = chained
    for it in out:
        entry = it.record.lineage[-1]
        assert entry["stage"] == "noise" and 5.0 <= entry["snr_db"] <= 20.0
        assert f"noise:snr={entry['snr_db']:.1f}" in it.record.tags
