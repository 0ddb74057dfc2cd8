"""The ``curate`` command line. Command modules import only typer and the standard library at
module level; heavy libraries are imported inside the commands so ``curate --help`` is instant."""
from __future__ import annotations

import errno

import typer
from typer.core import TyperGroup

from . import __version__


class _Commands(TyperGroup):
    """Every command: a file that cannot be read or written (a full disk, a read-only folder, a
    path that is not a folder) ends it with one line naming the file, exit code 1, no traceback.
    The writers have removed their temporary files by then."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OSError as e:
            if e.errno == errno.EPIPE:  # the reader went away: click ends quietly
                raise
            from rich.text import Text

            from .console import make_console, os_error_line
            make_console(stderr=True).print(Text.assemble(("error: ", "bold red"),
                                                          os_error_line(e)), soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Commands,
    name="curate",
    help="Curate in-car Mandarin speech into clean manifests, check labels, fine-tune Qwen2-Audio "
         "and compare CER.\n\nExample: curate run demo --plugins vad,short,chunk30,merge30,noise",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"curate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Curate speech data for Qwen2-Audio fine-tuning."""


# --- command registrations (one line per command module) ---
from .cmd_datasets import datasets_app; app.add_typer(datasets_app, name="datasets")  # noqa: E702
from .cmd_export import export; app.command()(export)  # noqa: E702
from .cmd_run import run; app.command()(run)  # noqa: E702
from .cmd_plugins import plugins; app.command()(plugins)  # noqa: E702
from .cmd_cer import cer; app.command()(cer)  # noqa: E702
from .cmd_board import board; app.command()(board)  # noqa: E702
from .cmd_train import train; app.command()(train)  # noqa: E702
from .cmd_infer import infer; app.command()(infer)  # noqa: E702
from .cmd_export_model import export_model; app.command()(export_model)  # noqa: E702
from .cmd_qc import qc; app.command()(qc)  # noqa: E702
from .cmd_features import features; app.command()(features)  # noqa: E702
# --- end of command registrations ---


def main() -> None:
    app()
