"""The stage contract, enforced by the executor on third-party stages run through `curate run`: a
record a stage drops without rejecting it is rejected `lost_by_stage`; an exception on one record
rejects that record (`stage_error:<Type>`) and the run goes on; errors in parameters or `prepare`
stop the run before any audio is read; parameter names may not shadow stage attributes."""
import json
from importlib.metadata import EntryPoint

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from curate.cli import app
from curate.engine import discovery as plugin_registry
from curate.engine.executor import run_pipeline
from curate.engine.lifecycle import is_complete
from curate.stage import Item, Param, ParamError, Stage
from manifests import Record, read_manifest, write_manifest
from tests.audio_gen import speechlike, write


class Flaky(Stage):
    """Raises on the record named by ``bad``, as a buggy third-party stage would."""
    name, summary = "flaky", "raises on one record"
    params = {"bad": Param("str", "u05", "id of the record it fails on")}

    def __call__(self, items, ctx):
        for it in items:
            if it.record.id == self.bad:
                raise ValueError(f"cannot handle {it.record.id}")
            it.record.lineage.append(self.lineage())
            yield it


class Leaky(Stage):
    """Drops one record the usual generator way, without rejecting it."""
    name, summary = "leaky", "forgets one record"
    params = {"skip": Param("str", "u07", "id of the record it drops")}

    def __call__(self, items, ctx):
        for it in items:
            if it.record.id == self.skip:
                continue
            yield it


class Pairer(Stage):
    """Packs consecutive pairs like a tiny merge30, and raises when emitting a pair holding
    ``bad``: the error surfaces on the record after the buffered one."""
    name, summary = "pairer", "packs pairs"
    params = {"bad": Param("str", "u04", "a pair holding it fails")}

    def __call__(self, items, ctx):
        buf = []
        for it in items:
            buf.append(it)
            if len(buf) == 2:
                yield self._emit(buf)
                buf = []
        if buf:
            yield self._emit(buf)

    def _emit(self, buf):
        if any(it.record.id == self.bad for it in buf):
            raise RuntimeError(f"pair with {self.bad}")
        if len(buf) == 1:
            return buf[0]
        a, b = buf
        rec = Record(id=f"merge:{a.record.id}+{b.record.id}", audio="",
                     duration=a.duration + b.duration, text=a.record.text + b.record.text,
                     extra={"parts": [{"id": a.record.id, "start": 0.0, "end": a.duration},
                                      {"id": b.record.id, "start": a.duration,
                                       "end": a.duration + b.duration}]})
        return Item.merge([a, b], rec, np.concatenate([a.audio, b.audio]))


class BadPrepare(Stage):
    name, summary, params = "badprepare", "fails in its pre-pass", {}

    def prepare(self, records, ctx):
        raise ParamError("badprepare: the input has no field 'speaker'")

    def __call__(self, items, ctx):
        yield from items


class Copier(Stage):
    """Yields each record, then fails making a copy of ``bad`` (after the record came out)."""
    name, summary = "copier", "copies, and fails on one copy"
    params = {"bad": Param("str", "u03", "id whose copy fails")}

    def __call__(self, items, ctx):
        for it in items:
            yield it
            if it.record.id == self.bad:
                raise ValueError(f"no copy of {it.record.id}")


class Broken(Stage):
    """Raises before taking any record: it would fail on any input."""
    name, summary, params = "broken", "always fails", {}

    def __call__(self, items, ctx):
        raise RuntimeError("broken stage")
        yield from items


class Shadow(Stage):
    name, summary = "shadow", "a parameter named like a method"
    params = {"lineage": Param("bool", True, "keep lineage")}

    def __call__(self, items, ctx):
        yield from items


THIRD_PARTY = {cls.name: cls for cls in (Flaky, Leaky, Pairer, Copier, BadPrepare, Broken,
                                          Shadow)}


@pytest.fixture(autouse=True)
def third_party(monkeypatch):
    """The stages above, registered as an installed package's entry points would be."""
    real = plugin_registry.available

    def available():
        eps = real()
        for name, cls in THIRD_PARTY.items():
            eps[name] = EntryPoint(name, f"{__name__}:{cls.__name__}", plugin_registry.GROUP)
        return eps

    monkeypatch.setattr(plugin_registry, "available", available)


@pytest.fixture
def manifest(tmp_path):
    recs = []
    for i in range(12):
        path = write(tmp_path / f"u{i}.wav", speechlike(1.5, seed=i))
        recs.append(Record(id=f"u{i:02d}", audio=path, duration=sf.info(path).duration,
                           text=f"第{i}句"))
    write_manifest(tmp_path / "in.jsonl", recs)
    return tmp_path / "in.jsonl"


def curate_run(manifest, out, plugins, *extra):
    return CliRunner().invoke(app, ["run", str(manifest), "--plugins", plugins, "--out", str(out),
                                    *extra])


def rejected(out):
    return {r["id"]: r for r in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_lost_and_failed_records_are_rejected_and_the_rest_kept(manifest, tmp_path, workers):
    out = tmp_path / "run"
    res = curate_run(manifest, out, "flaky,leaky", "--workers", workers)
    assert res.exit_code == 0, res.output
    rej = rejected(out)
    assert set(rej) == {"u05", "u07"}
    assert (rej["u05"]["reason"], rej["u05"]["stage"]) == ("stage_error:ValueError", "flaky")
    assert rej["u05"]["error"] == "cannot handle u05"
    assert (rej["u07"]["reason"], rej["u07"]["stage"]) == ("lost_by_stage", "leaky")
    kept = [r.id for r in read_manifest(out / "manifest.jsonl")]
    assert kept == [f"u{i:02d}" for i in range(12) if i not in (5, 7)]
    acc = json.loads((out / "run.json").read_text())["accounting"]
    assert acc["input_records"] == 12
    assert acc["records"] == {"kept": 10, "eval_only": 0, "rejected": 2}
    assert acc["rejected_reasons"] == {"lost_by_stage": 1, "stage_error:ValueError": 1}
    said = " ".join(res.output.split())
    assert "warning: stage leaky lost 1 record(s)" in said
    assert "warning: stage flaky raised on 1 record(s)" in said


def test_an_exception_after_the_record_came_out_is_counted_and_warned(manifest, tmp_path):
    """Nothing is held to reject, so no record is lost; the failure is not silent either."""
    out = tmp_path / "run"
    res = curate_run(manifest, out, "copier", "--workers", "1")
    assert res.exit_code == 0, res.output
    assert len(list(read_manifest(out / "manifest.jsonl"))) == 12
    stats = json.loads((out / "run.json").read_text())["per_stage"]["0:copier"]
    assert stats["errors"] == {"stage_error:ValueError": 1} and stats["reasons"] == {}
    said = " ".join(res.output.split())
    assert "warning: stage copier raised 1 time(s) after the records it had taken" in said


def test_a_buffering_stage_that_raises_rejects_what_it_held(manifest, tmp_path):
    """Pairer holds u04 when u05 makes it emit and fail: both are rejected, with the message, and
    the stage starts again on u06."""
    out = tmp_path / "run"
    res = curate_run(manifest, out, "pairer", "--workers", "1")
    assert res.exit_code == 0, res.output
    rej = rejected(out)
    assert set(rej) == {"u04", "u05"}
    assert all(r["reason"] == "stage_error:RuntimeError" and r["stage"] == "pairer"
               and r["error"] == "pair with u04" for r in rej.values())
    kept = [r.id for r in read_manifest(out / "manifest.jsonl")]
    assert kept == ["merge:u00+u01", "merge:u02+u03", "merge:u06+u07", "merge:u08+u09",
                    "merge:u10+u11"]
    acc = json.loads((out / "run.json").read_text())["accounting"]
    assert acc["records"] == {"kept": 10, "eval_only": 0, "rejected": 2}


def test_splitting_and_merging_stages_lose_nothing(tmp_path):
    """The bundled stages that split (chunk30, noise keep_clean) and merge (merge30) name what
    they consume, so the executor finds no lost record on the demo corpus."""
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "demo", "--plugins", "vad,short,chunk30,merge30,noise",
                                   "--set", "noise.keep_clean=true", "--out", str(out),
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    reasons = {r["reason"] for r in rejected(out).values()}
    assert not {r for r in reasons if r == "lost_by_stage" or r.startswith("stage_error")}
    acc = json.loads((out / "run.json").read_text())["accounting"]
    assert acc["records"]["kept"] + acc["records"]["rejected"] + acc["records"]["eval_only"] == 120
    assert "warning" not in res.output


def test_a_stage_failing_on_any_input_stops_the_run(manifest, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="broken stage"):
        run_pipeline(lambda: read_manifest(manifest), [Broken()], out)
    assert not is_complete(out) and not (out / "manifest.jsonl").exists()


def test_a_failing_prepare_stops_before_audio_and_keeps_the_folder(manifest, tmp_path):
    out = tmp_path / "run"
    assert curate_run(manifest, out, "leaky", "--workers", "1").exit_code == 0
    before = (out / "manifest.jsonl").read_bytes()
    res = curate_run(manifest, out, "badprepare", "--workers", "1", "--force")
    assert res.exit_code == 2
    assert "error: badprepare: the input has no field 'speaker'" in res.output
    assert (out / "manifest.jsonl").read_bytes() == before and is_complete(out)
    fresh = tmp_path / "fresh"   # a new --out: no folder is left behind that looks like a run
    assert curate_run(manifest, fresh, "badprepare", "--workers", "1").exit_code == 2
    assert not fresh.exists()


@pytest.mark.parametrize("param", ["values", "lineage", "name", "prepare"])
def test_a_parameter_may_not_shadow_a_stage_attribute(param):
    cls = type("Shadow", (Stage,), {"name": "shadow", "summary": "s",
                                    "params": {param: Param("str", "x", "shadows")},
                                    "__call__": lambda self, items, ctx: iter(items)})
    with pytest.raises(ParamError, match=f"parameter name\\(s\\) {param} would shadow"):
        cls()


def test_a_shadowing_parameter_is_refused_by_curate_run(manifest, tmp_path):
    out = tmp_path / "run"
    res = curate_run(manifest, out, "shadow")
    assert res.exit_code == 2
    assert "parameter name(s) lineage would shadow attributes of the stage" in res.output
    assert not out.exists()
