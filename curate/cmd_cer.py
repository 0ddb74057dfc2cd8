"""``curate cer``: Mandarin CER for several systems, with correction accounting and flags."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def cer(
    ref: Annotated[str, typer.Option("--ref", metavar="PATH|DATASET", help=(
        "Reference: a manifest (.jsonl, `id` + `text`), a run directory (manifest.jsonl + "
        "eval_only.jsonl), a name<TAB>text file, or a registered dataset name (or `demo`)."))],
    hyp: Annotated[list[str], typer.Option("--hyp", metavar="[NAME=]FILE", help="Hypotheses, name<TAB>text: NAME=FILE, "
                                           "or a bare FILE named after its stem. Repeatable.")],
    corrects: Annotated[Optional[list[str]], typer.Option(
        "--corrects", metavar="B:A",
        help="System B corrects system A: fixed / introduced / persisted errors, fix and "
             "over-correction rates, oracle CER. Repeatable.")] = None,
    missing: Annotated[str, typer.Option(
        "--missing", metavar="deletions|skip", help="A reference id with no hypothesis: 'deletions' (counts as all "
                          "deletions) or 'skip' (left out of that system). Both CERs are "
                          "always shown.")] = "deletions",
    fuzzy: Annotated[str, typer.Option(
        "--fuzzy", metavar="exclude|strip|wildcard",
        help="References with unclear spans (【～】 ～ ~ \\[unk] <unk>, or a `fuzzy` "
                        "tag): 'exclude' them, 'strip' the markers, or let each marker be a "
                        "'wildcard' matching any span.")] = "exclude",
    unit: Annotated[str, typer.Option(
        "--unit", metavar="mixed|char|word", help="'mixed' (CJK by character, Latin and digit runs by word), 'char' "
                       "(every character) or 'word' (whitespace-separated).")] = "mixed",
    profile: Annotated[str, typer.Option(
        "--profile", metavar="zh|none", help="Normalisation: 'zh' (NFKC, t2s, case, punctuation, whitespace) or "
                          "'none'.")] = "zh",
    numbers: Annotated[Optional[str], typer.Option(
        "--numbers", metavar="keep|digits|spoken", help="Number policy: 'keep' (default), 'digits' (110 → 一一零) or "
                          "'spoken' (25 → 二十五). Arabic → Chinese only.")] = None,
    fillers: Annotated[Optional[str], typer.Option(
        "--fillers", metavar="keep|drop", help="'keep' (default) or 'drop' the fillers 嗯/啊/呃.")] = None,
    show_bad: Annotated[int, typer.Option(
        "--show-bad", metavar="N", help="List up to N flagged utterances per system.")] = 0,
    top: Annotated[int, typer.Option("--top", metavar="K", help="Confusions shown per system.")] = 10,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", metavar="N", help="Bootstrap resamples (0: no intervals or p-values).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="SEED", help="Seed of the bootstrap.")] = 0,
    out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="DIR", help="Write summary.json, per_utt.tsv, confusions.tsv, "
                      "alignment.txt and report.html here.")] = None,
    board: Annotated[Optional[str], typer.Option(
        "--board", metavar="NAME", help="Record each system's result on the experiment board "
                          "NAME (.curate/boards/NAME.jsonl in the workspace; see curate board). "
                          "Rescoring a system on the same eval set replaces its row.")] = None,
    eval_name: Annotated[Optional[str], typer.Option(
        "--eval-name", metavar="NAME", help="The eval set's name on the board (default: the "
                          "dataset name, or the reference file's or run directory's name).")
    ] = None,
) -> None:
    """Score hypotheses against references: CER per system with 95 % intervals, paired tests,
    correction accounting, failure flags and the most common errors.

    Example: curate cer --ref runs/w5/run1/eval_only.jsonl --hyp base1=online.tsv
    --hyp base2=corrected.tsv --hyp base3=llm_asr.tsv --corrects base2:base1 --out cer_report/
    """
    from rich.text import Text

    from .cer import InputError, Settings, evaluate, load_hypotheses, load_reference
    from .cer.normalize import PROFILES
    from .cer.outputs import write_all
    from .cer.report import print_report
    from .cer.view import Shown
    from .checks.pii import redact_text
    from .console import make_console

    # The reference is often eval_only.jsonl, the records holding personal data: every id, text
    # and token shown or written, errors included, is masked (the figures are the raw texts').
    console = make_console()
    try:
        if profile not in PROFILES:
            raise InputError(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        pairs = []
        for spec in corrects or []:
            b, colon, a = spec.partition(":")
            if not colon or not a or not b:
                raise InputError(f"--corrects {spec!r}: expected B:A, e.g. base2:base1")
            pairs.append((b, a))
        try:
            chosen = PROFILES[profile].with_policies(numbers=numbers, fillers=fillers)
        except ValueError as e:
            raise InputError(str(e)) from None
        settings = Settings(unit=unit, profile=chosen, fuzzy=fuzzy, missing=missing,
                            resamples=bootstrap, seed=seed, corrects=tuple(pairs))
        board_file = _board_file(board) if board is not None else None
        ref_path = _reference_path(ref)
        reference = load_reference(ref_path)
        hypotheses = [load_hypotheses(spec) for spec in hyp]
        ev = evaluate(reference, hypotheses, settings)
    except InputError as e:
        make_console(stderr=True).print(Text.assemble(("error: ", "bold red"),
                                                      redact_text(str(e))))
        raise typer.Exit(2) from None
    shown = Shown(ev, redact_text)
    print_report(ev, console, shown, show_bad=show_bad, top=top)
    if out is not None:
        # a write error ends the command in cli.py, naming the file
        paths = write_all(ev, out, shown)
        console.print(Text("Wrote " + ", ".join(str(p) for p in paths)))
    if board_file is not None:
        _record_on_board(ev, board_file, eval_name or _eval_name(ref, ref_path), console)


def _board_file(name: str) -> Path:
    from .cer.board import board_path
    from .registry import Workspace

    return board_path(Workspace.current().root, name)


def _eval_name(ref: str, ref_path: Path) -> str:
    """A registered dataset's name; else the run directory's or file's name (a run's
    manifest.jsonl / eval_only.jsonl are named after their run: ``r1/eval_only``)."""
    from .cer.inputs import RUN_FILES

    path = Path(ref)
    if not path.exists():
        return ref
    path = path.resolve()
    if path.is_dir():
        return path.name
    return f"{path.parent.name}/{path.stem}" if path.name in RUN_FILES else path.stem


def _record_on_board(ev, board_file: Path, name: str, console) -> None:
    from rich.text import Text

    from .cer import board
    from .cer.outputs import summary
    from .cer.provenance import read_sidecar

    provenance = {}
    for sr in ev.systems.values():
        provenance[sr.name], note = read_sidecar(Path(sr.source))
        if note:
            console.print(Text.assemble(("note: ", "yellow"), note))
    rows = board.records(ev, name, provenance, summary(ev))
    board.append(board_file, rows)
    console.print(Text(f"Board {board_file}: {len(rows)} result(s) on eval set {name} "
                       f"({', '.join(r['system'] for r in rows)})"))


def _reference_path(ref: str) -> Path:
    """A path as given, or else the manifest of a registered dataset (or the bundled demo)."""
    path = Path(ref)
    if path.exists():
        return path
    from .cer import InputError
    from .registry import RegistryError, resolve_manifest

    try:
        return resolve_manifest(ref)
    except RegistryError as e:
        raise InputError(str(e)) from None
