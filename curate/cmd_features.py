"""``curate features``: the log-mel the encoder sees for an augmented record and its clean twin."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def features(
    run: Annotated[Path, typer.Argument(help="A run directory made with keep_clean=true on an "
                                             "augmenting stage (noise, speed, gain, codec, "
                                             "reverb).")],
    id_: Annotated[str, typer.Option("--id", help="The augmented record, e.g. 'utt1#noise'.")],
    out: Annotated[Optional[Path], typer.Option(
        help="Folder for features.png and features.html (default: RUN/features/<id>/).")] = None,
) -> None:
    """Show what Qwen2-Audio's encoder sees for an augmented record and the clean record it was
    made from: the 128-bin log-mel of the Whisper feature extractor (100 frames per second, 3000
    per 30 s window, 1500 encoder frames after the convolutions), side by side on one time axis,
    and the L2 distance between them at each frame. Writes features.png and features.html (one
    self-contained page; personal data in ids and texts masked) and prints the summary.

    The clean twin is the record the stage copied (the id before '#STAGE', with the lineage the
    copy continues). Needs the train extra (transformers), but no model weights.

    Example: curate run demo --plugins vad,noise --set noise.keep_clean=true --out runs/aug

    then: curate features runs/aug --id call_001#noise
    """
    from manifests import ManifestError
    from manifests.audio import AudioError, load
    from manifests.jsonl import atomic_file
    from manifests.rundir import RunDirError, open_run
    from train_adapter.features import FeaturesUnavailable, feature_extractor, log_mel

    from .checks.pii import redact_text
    from .console import escape, make_console
    from .features import PairError, figure, find_pair, frame_distance, notes, page
    from .engine.output import audio_name

    console, err = make_console(), make_console(stderr=True)

    def fail(message: str, code: int):
        # Masked: messages name ids and audio paths (the run names written audio after the id).
        err.print(f"[red]error:[/] {escape(redact_text(message))}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(code)

    try:
        pair = find_pair(open_run(run), id_)
        extractor = feature_extractor()
    except (RunDirError, PairError, ManifestError, FeaturesUnavailable) as e:
        fail(str(e), 2)
    mels = []
    for record in (pair.clean, pair.augmented):
        try:
            mels.append(log_mel(load(record.audio, record.offset, record.duration), extractor))
        except AudioError as e:
            fail(f"{record.id}: {e}", 1)
    clean, augmented = mels
    distance = frame_distance(clean.values, augmented.values)
    image, lay = figure(clean.values, augmented.values, distance)
    told = notes(clean, augmented)
    # Named after the masked id: the folder's name is printed and shared with the report.
    folder = out or run / "features" / Path(audio_name(redact_text(id_))).stem
    with atomic_file(folder / "features.png", binary=True) as f:
        f.write(image)
    with atomic_file(folder / "features.html") as f:
        f.write(page(pair, clean, augmented, distance, image, lay, redact_text, told))

    console.print(f"{escape(redact_text(pair.augmented.id))}: {escape(pair.stage)} applied to "
                  f"{escape(redact_text(pair.clean.id))}", highlight=False, soft_wrap=True)
    console.print(f"mel frames {clean.frames} clean / {augmented.frames} augmented "
                  f"(encoder frames {clean.encoder_frames} / {augmented.encoder_frames}) of a "
                  f"{clean.window_frames}-frame window", highlight=False, soft_wrap=True)
    console.print(f"per-frame L2 distance over {len(distance)} frames (log-mel units): "
                  f"mean {distance.mean():.4f}, max {distance.max():.4f}", highlight=False,
                  soft_wrap=True)
    for note in told:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {escape(folder / 'features.png')} and "
                  f"{escape(folder / 'features.html')}", highlight=False, soft_wrap=True)
