"""Finds stages through the ``curate.plugins`` entry points and builds them from user settings."""
from __future__ import annotations

import tomllib
from importlib.metadata import entry_points
from pathlib import Path

from ..stage import ParamError, Stage

GROUP = "curate.plugins"


def available() -> dict:
    """Stage name → entry point, for every installed package that registers stages."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_class(name: str, eps: dict | None = None) -> type[Stage]:
    """The Stage class registered as ``name``; ``eps`` is ``available()`` when already at hand
    (scanning the installed packages' entry points takes ~20 ms each time)."""
    eps = available() if eps is None else eps
    if name not in eps:
        raise ParamError(f"unknown stage '{name}'; available: {', '.join(sorted(eps))}")
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise ParamError(f"entry point '{name}' ({eps[name].value}) is not a curate Stage")
    return cls


def parse_sets(sets: list[str]) -> dict[str, dict[str, str]]:
    """``["noise.snr=5:15", "vad.pad=0.3"]`` → ``{"noise": {"snr": "5:15"}, "vad": {"pad": "0.3"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        stage, dot, param = key.strip().partition(".")
        if not eq or not dot or not stage or not param:
            raise ParamError(f"--set expects STAGE.PARAM=VALUE, got {item!r}")
        out.setdefault(stage, {})[param] = value.strip()
    return out


def read_pipeline_file(path) -> tuple[list[str], dict[str, dict], dict]:
    """A pipeline TOML: ``plugins = [...]``, optional ``seed``, and one table per stage.

    Returns (stage names, settings per stage, run options such as seed).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ParamError(f"{path}: {e}") from None
    names = data.pop("plugins", None)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ParamError(f"{path}: needs a list 'plugins = [\"vad\", ...]'")
    options = {k: data.pop(k) for k in ("seed",) if k in data}
    settings = {}
    for stage, table in data.items():
        if not isinstance(table, dict):
            raise ParamError(f"{path}: '{stage}' must be a table of parameters")
        settings[stage] = table
    return names, settings, options


DEFAULT_GUARD = "sensitive"   # the text guard a pipeline gets when it names none


def build_stages(names: list[str], settings: dict[str, dict], *,
                 guard: bool = True) -> list[Stage]:
    """Instantiate and validate every stage before any audio is touched.

    Personal data first: a pipeline that names no text guard gets ``sensitive`` (with the
    parameters ``settings`` give it), placed as :func:`guard_texts` places one, unless
    ``guard`` is False (the user's explicit choice)."""
    if not names:
        raise ParamError("no stages given; see `curate plugins`")
    eps = available()
    if guard and DEFAULT_GUARD not in names and not any(
            load_class(n, eps).text_guard for n in names):
        names = [*names, DEFAULT_GUARD]
    stray = sorted(set(settings) - set(names))
    if stray:
        raise ParamError(f"parameters set for stage(s) not in the pipeline: {', '.join(stray)} "
                         f"(pipeline: {', '.join(names)})")
    return guard_texts([load_class(n, eps)(**settings.get(n, {})) for n in names])


def guard_texts(stages: list[Stage]) -> list[Stage]:
    """With a text guard in the pipeline (``sensitive``), every record's texts are read before each
    stage that rewrites texts and after the last one, whatever order the user gave: a copy of the
    guard, with the same parameters, runs wherever the user's placement leaves texts unread.

    Before a rewrite, because a split cuts a number in two (each half looks clean) and a join can
    run a number into the next text's digits; after one, because a join can complete a number
    that no part held whole. Stages that only read texts need no guard in between.
    """
    guards = [s for s in stages if s.text_guard]
    if not guards:
        return stages
    out: list[Stage] = []
    read = False  # a guard has read the texts since the last rewrite
    for stage in stages:
        if stage.rewrites_text and not read:
            out.append(_copy(guards[0]))
        out.append(stage)
        if stage.text_guard:
            read = True
        elif stage.rewrites_text:
            read = False
    if not read:
        out.append(_copy(guards[0]))
    return out


def _copy(stage: Stage) -> Stage:
    return type(stage)(**stage.values)
