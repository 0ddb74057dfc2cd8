"""One definition of each thing shared across layers (CJK, the decoding rate), and the layers
importing only downward: manifests ← engine and libraries (curate/checks, curate/cer) ← plugins ←
command modules."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cer.units import Vocabulary, tokenize
from curate.checks.labels import bad_chars, speech_units
from curate.cli import app
from manifests.audio import TARGET_SR
from manifests.cjk import HAN, LETTER, MARK, RANGES, all_cjk, is_cjk, is_han, no_space_beside
from plugins.joiner import join_texts

ROOT = Path(__file__).resolve().parent.parent

# The first and last code point of each range (the ideographic space, which str.strip takes for
# whitespace, gives way to the next).
EDGES = [(chr(cp + chr(cp).isspace()), kind) for lo, hi, kind in RANGES for cp in (lo, hi)]


def test_the_table_is_ordered_and_disjoint():
    assert all(kind in (HAN, LETTER, MARK) for _, _, kind in RANGES)
    assert all(hi_a < lo_b for (_, hi_a, _), (lo_b, _, _) in zip(RANGES, RANGES[1:]))
    assert all(lo <= hi for lo, hi, _ in RANGES)


@pytest.mark.parametrize("ch, kind", EDGES)
def test_every_kind_is_what_the_scorer_joiner_and_label_checks_take_it_for(ch, kind):
    letter = kind in (HAN, LETTER)
    assert is_cjk(ch) is letter and is_han(ch) is (kind == HAN)
    assert join_texts(["go", ch]) == "go" + ch  # no space beside anything of the table
    one_token = len(tokenize([f"ab{ch}cd"], "mixed", Vocabulary())[0])
    if letter:  # a letter is a token of its own between two Latin words
        assert one_token == 3
    if kind == HAN:  # an ideograph belongs in a Mandarin label
        assert bad_chars(ch) == []


def test_outside_the_table_nothing_is_cjk():
    # Latin, before Hangul Jamo, Yijing hexagrams, small form variants, plane 4
    for ch in "aZ09.,-é\u10ff\u4dc0\ufe50\U00040000":
        assert not no_space_beside(ch) and not is_cjk(ch) and not is_han(ch), ch
        assert join_texts(["go", ch]) == "go " + ch
    assert not is_cjk("中文")  # one character at a time


def test_labels_expect_han_not_kana_or_hangul():
    assert bad_chars("打开空调，好的。") == []
    assert bad_chars("ひ한") == ["U+3072", "U+D55C"]  # CJK letters, but not Mandarin
    assert speech_units("打开ひ한 GPS") == 5  # still spoken: one unit per CJK letter, GPS one word


def test_all_cjk():
    assert all_cjk("中文ひ한") and all_cjk("")
    assert not all_cjk("中文。") and not all_cjk("中a")


def test_export_help_states_the_decoding_rate_as_its_default():
    result = CliRunner().invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    assert f"[default: {TARGET_SR}]" in result.output


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, function-level and relative
    ones too (``from ..checks import pii`` in curate/qc/report.py is ``curate.checks``)."""
    package = path.relative_to(ROOT).parent.parts
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else ()
            if node.module:
                out.append((node.lineno, ".".join([*base, node.module])))
            else:  # from . import lifecycle
                out += [(node.lineno, ".".join([*base, a.name])) for a in node.names]
    return out


def _within(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _offending(folders, forbidden, allowed=(), skip=lambda p: False) -> list[str]:
    """``file:line: module`` of each import of ``forbidden`` packages (less ``allowed`` ones)."""
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if skip(path):
                continue
            found += [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in _imports(path)
                      if _within(name, forbidden) and not _within(name, allowed)]
    return found


def test_only_command_modules_import_plugins():
    assert _offending(["curate", "manifests", "train_adapter"], {"plugins"},
                      skip=lambda p: p.parent.name == "curate" and p.name.startswith("cmd_")) == []


def test_the_libraries_and_the_engine_import_only_manifests():
    assert _offending(["manifests"], {"curate", "plugins", "train_adapter"}) == []
    assert _offending(["curate/checks"], {"plugins", "train_adapter", "curate"},
                      allowed={"curate.checks"}) == []
    # the stage contract and the engine's core (what runs in workers and Ray tasks); its
    # summary, progress and runner print, through curate.console
    engine = {"curate.stage", "curate.engine"} | {
        f"curate.engine.{m}" for m in ("executor", "output", "lifecycle", "discovery")}
    assert _offending(["curate"], {"plugins", "train_adapter", "curate"}, allowed=engine,
                      skip=lambda p: p.relative_to(ROOT).with_suffix("").as_posix()
                      .replace("/", ".") not in engine) == []


@pytest.mark.parametrize("module", ["manifests.cjk", "curate.checks.audio",
                                    "curate.checks.speech_level", "curate.checks.labels",
                                    "curate.cer.units", "plugins.joiner", "plugins.qc"])
def test_each_library_imports_on_its_own(module):
    # a fresh interpreter: an import cycle fails here whichever module is imported first
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
