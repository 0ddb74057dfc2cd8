"""``curate export-model``: merge a LoRA adapter into its base as a full checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_model(
    model: Annotated[Path, typer.Option(
        help="LoRA adapter folder written by curate train (holds adapter_config.json).",
        exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option(help="Folder for the merged full checkpoint.")],
) -> None:
    """Merge a LoRA adapter into its base model and write a full checkpoint of its family.

    Example: curate export-model --model ckpt/sft1 --out ckpt/sft1-merged

    The adapter's own base path (adapter_config.json) names the base; the merged folder loads
    like any checkpoint (also outside curate) and keeps the prompts the adapter was trained with.
    """
    from .console import escape, make_console

    console = make_console(stderr=True)
    if not (model / "adapter_config.json").is_file():
        console.print(f"[red]error:[/] {escape(model)} has no adapter_config.json: it is not a "
                      "LoRA adapter (a full checkpoint needs no merging)")
        raise typer.Exit(2)
    if out.exists() and any(out.iterdir()):
        console.print(f"[red]error:[/] {escape(out)} exists and is not empty")
        raise typer.Exit(2)

    import transformers

    from train_adapter.model import ModelError
    from train_adapter.trainer import merge_adapter

    transformers.utils.logging.disable_progress_bar()
    try:
        merge_adapter(model, out)
    except ModelError as e:
        console.print(f"[red]error:[/] {escape(e)}")
        raise typer.Exit(2)
    console.print(f"merged {escape(model)} into a full checkpoint: {escape(out)}")
    typer.echo(str(out))
