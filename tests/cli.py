"""The commands through typer's CliRunner, as the tests call them: succeed, or fail with a message."""
from __future__ import annotations

from typer.testing import CliRunner

from curate.cli import app

runner = CliRunner()


def ok(args: list[str]) -> str:
    """The output of a command that must succeed."""
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def fails(args: list[str], message: str) -> None:
    """A command that must refuse (exit 2) saying ``message`` (whitespace folded)."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


def run_records(records, folder, plugins: str) -> dict:
    """``curate run --plugins PLUGINS --workers 1`` over ``records`` (written to
    ``folder/in.jsonl``) into ``folder/run``: every output record by id, kept, eval-only and
    rejected alike."""
    from manifests import read_manifest, write_manifest
    from manifests.rundir import KINDS, open_run

    write_manifest(folder / "in.jsonl", records)
    ok(["run", str(folder / "in.jsonl"), "--plugins", plugins, "--out", str(folder / "run"),
        "--workers", "1"])
    return {r.id: r for path in open_run(folder / "run").files(KINDS) if path.exists()
            for r in read_manifest(path)}


def install_stage(site, name: str, cls: str, source: str):
    """A third-party package ``curate_<name>`` whose ``cls`` (defined in ``source``) is registered
    under the ``curate.plugins`` entry points, installed on the path ``site``; returns ``site``."""
    package = site / f"curate_{name}"
    package.mkdir()
    (package / "__init__.py").write_text(source)
    dist = site / f"curate_{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: curate-{name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[curate.plugins]\n{name} = curate_{name}:{cls}\n")
    return site


def with_site(site) -> dict:
    """The environment for a `curate` subprocess that sees the packages installed on ``site``."""
    import os

    return {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
