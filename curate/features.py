"""``curate features``: a record an augmentation made, next to the clean record it was made from,
as the encoder sees both (the log-mel of train_adapter/features.py), and how far apart they are.

An augmentation run with ``keep_clean=true`` (noise, speed, gain, codec, reverb) keeps the record
and yields a copy named ``ID#STAGE`` whose lineage is the record's, then the stage's entry (its
parameters, ``keep_clean`` among them, and its draws). That is how a copy's clean twin is found:
by the id the stage gave it and the lineage it wrote, never by a similar name.

The figure is a PNG written here with numpy and zlib (no plotting library): the two log-mels on
one colour scale and one time axis, and the per-frame distance below them. The page embeds it as a
data URI, with the numbers, so it is one file that opens anywhere.
"""
from __future__ import annotations

import base64
import html
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from manifests import Record, read_manifest
from manifests.rundir import EVALUATION, RunDir
from train_adapter.features import FRAMES_PER_SECOND

from .checks.pii import redact_text

MEL_ROW_PX = 2          # a mel bin is two pixels tall: 256 px per spectrogram
DISTANCE_PX = 96        # height of the distance panel
GAP_PX = 6              # white between panels
MIN_WIDTH_PX = 900      # short clips are widened by a whole number of pixels per frame
EMPTY = (224, 224, 224)  # frames a shorter clip does not have (speed changes the length)
BAR = (178, 34, 34)
# viridis at five stops: dark is quiet, yellow is loud
_STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                  dtype=np.float64)


class PairError(ValueError):
    """A record that cannot be compared; the message says why."""


@dataclass(frozen=True)
class Pair:
    clean: Record
    augmented: Record
    step: dict        # the augmenting stage's lineage entry: parameters and draws

    @property
    def stage(self) -> str:
        return self.step["stage"]


def find_pair(run: RunDir, rid: str) -> Pair:
    """The augmented record ``rid`` of a verified run and the clean record it was made from."""
    twin_id, _, suffix = rid.rpartition("#")
    found: dict[str, Record] = {}
    copies: list[str] = []
    for path in run.files(EVALUATION):
        for record in read_manifest(path):
            if record.id in (rid, twin_id):
                found[record.id] = record
            elif record.id.startswith(rid + "#"):
                copies.append(record.id)
    augmented = found.get(rid)
    if augmented is None:
        raise PairError(f"no record {_shown(rid)} in {run.path}'s manifests{_rejected(run, rid)}")
    index = next((i for i in range(len(augmented.lineage) - 1, -1, -1)
                  if augmented.lineage[i].get("stage") == suffix
                  and augmented.lineage[i].get("keep_clean") is True), None) if twin_id else None
    if index is None:
        hint = (f"; its augmented copies: {', '.join(_shown(c) for c in sorted(copies))}"
                if copies else "")
        raise PairError(f"{_shown(rid)} has no clean twin: it is not a copy made by a stage with "
                        f"keep_clean=true (an id ending in '#STAGE' whose lineage holds that "
                        f"stage){hint}")
    clean = found.get(twin_id)
    if clean is None:
        raise PairError(f"{_shown(rid)} was made by {suffix} from {_shown(twin_id)}, which is "
                        f"not in {run.path}'s manifests{_rejected(run, twin_id)}")
    if clean.lineage[:index] != augmented.lineage[:index]:
        raise PairError(f"{_shown(rid)} and {_shown(twin_id)} do not share their lineage before "
                        f"{suffix}: {_shown(twin_id)} is not the record {suffix} copied")
    return Pair(clean, augmented, augmented.lineage[index])


def _shown(rid: str) -> str:
    """An id as messages name it: masked, as every output shows personal data."""
    return repr(redact_text(rid))


def _rejected(run: RunDir, rid: str) -> str:
    for record in read_manifest(run.file("rejected")):
        if record.id == rid:
            reason = record.extra.get("reason", "no reason recorded")
            return f" (it is in rejected.jsonl: {redact_text(str(reason))})"
    return ""


# --- the comparison ---------------------------------------------------------------------------

def frame_distance(clean: np.ndarray, augmented: np.ndarray) -> np.ndarray:
    """L2 distance between the two log-mels (bins × frames) at each frame both have."""
    n = min(clean.shape[1], augmented.shape[1])
    diff = clean[:, :n].astype(np.float64) - augmented[:, :n].astype(np.float64)
    return np.sqrt((diff * diff).sum(axis=0))


# --- the figure -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Where the panels of the figure lie, in pixels (rows from the top)."""

    frames: int       # the longer clip's frames: the shared time axis
    bins: int
    frame_px: int
    lo: float         # the colour scale both log-mels share: dark ...
    hi: float         # ... to yellow

    @property
    def width(self) -> int:
        return self.frames * self.frame_px

    @property
    def mel_height(self) -> int:
        return self.bins * MEL_ROW_PX

    def top(self, panel: int) -> int:
        """Panel 0: clean mel, 1: augmented mel, 2: distance."""
        return panel * (self.mel_height + GAP_PX)

    @property
    def height(self) -> int:
        return self.top(2) + DISTANCE_PX


def layout(clean: np.ndarray, augmented: np.ndarray) -> Layout:
    frames = max(clean.shape[1], augmented.shape[1])
    return Layout(frames, clean.shape[0], max(1, MIN_WIDTH_PX // frames),
                  float(min(clean.min(), augmented.min())),
                  float(max(clean.max(), augmented.max())))


def figure(clean: np.ndarray, augmented: np.ndarray, distance: np.ndarray) -> tuple[bytes, Layout]:
    """The PNG (clean mel, augmented mel, per-frame distance, top to bottom) and its layout."""
    lay = layout(clean, augmented)
    image = np.full((lay.height, lay.width, 3), 255, dtype=np.uint8)
    lo, hi = lay.lo, lay.hi
    for panel, mel in enumerate((clean, augmented)):
        top = lay.top(panel)
        block = image[top:top + lay.mel_height]
        block[:] = EMPTY
        rgb = _colour((mel[::-1] - lo) / (hi - lo) if hi > lo else np.zeros_like(mel))
        rgb = np.repeat(np.repeat(rgb, MEL_ROW_PX, axis=0), lay.frame_px, axis=1)
        block[:, :rgb.shape[1]] = rgb   # low frequencies at the bottom
    top, peak = lay.top(2), float(distance.max())
    if peak > 0:
        heights = np.round(distance / peak * (DISTANCE_PX - 1)).astype(int)
        rows = np.arange(DISTANCE_PX)[:, None] >= DISTANCE_PX - heights[None, :]
        bars = np.repeat(rows, lay.frame_px, axis=1)
        image[top:top + DISTANCE_PX, :bars.shape[1]][bars] = BAR
    return png(image), lay


def _colour(x: np.ndarray) -> np.ndarray:
    pos = np.clip(x, 0.0, 1.0) * (len(_STOPS) - 1)
    out = np.stack([np.interp(pos, np.arange(len(_STOPS)), _STOPS[:, c]) for c in range(3)],
                   axis=-1)
    return np.round(out).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``image`` (height × width × 3, uint8): rows unfiltered, zlib-packed."""
    height, width, _ = image.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


# --- the page ---------------------------------------------------------------------------------

def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>curate features: {title}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td {{ overflow-wrap: anywhere; max-width: 900px; }}
figure {{ margin: 12px 0; }} figcaption {{ max-width: 900px; }}
img {{ image-rendering: pixelated; max-width: 100%; height: auto; border: 1px solid #ccc; }}
</style></head><body>
<h1>What the encoder sees: {title}</h1>
<table id="records">
<tr><th></th><th>id</th><th>text</th><th>duration (s)</th></tr>
<tr><th>clean</th><td class="id">{clean_id}</td><td>{clean_text}</td>
<td class="num">{clean_dur}</td></tr>
<tr><th>augmented</th><td class="id">{aug_id}</td><td>{aug_text}</td>
<td class="num">{aug_dur}</td></tr>
</table>
<table id="step"><tr><th colspan="2">{stage} (lineage entry)</th></tr>{step}</table>
<figure id="features">
<img src="data:image/png;base64,{png}" width="{width}" height="{height}"
 alt="log-mel of the clean record, of the augmented record, and their per-frame distance">
<figcaption>Top: the clean record's 128-bin log-mel; middle: the augmented copy's, on the same
colour scale ({lo:.2f} dark to {hi:.2f} yellow) with low frequencies at the bottom; bottom: the
L2 distance between them at each frame (bar height relative to the maximum, {peak:.3f}). One
time axis: {fps} mel frames per second, {frame_px} px per frame, {frames} frames ({seconds:.2f} s).
{note}</figcaption>
</figure>
<table id="summary">
<tr><th>mel frames (clean / augmented)</th><td class="num">{clean_frames} / {aug_frames}</td></tr>
<tr><th>encoder frames (clean / augmented)</th><td class="num">{clean_enc} / {aug_enc}</td></tr>
<tr><th>window (frames the encoder is given)</th><td class="num">{window}</td></tr>
<tr><th>frames compared</th><td class="num">{compared}</td></tr>
<tr><th>mean per-frame L2 distance (log-mel units)</th><td class="num">{mean:.4f}</td></tr>
<tr><th>max per-frame L2 distance (log-mel units)</th><td class="num">{max:.4f}</td></tr>
</table>
<script type="application/json" id="distance">{distances}</script>
</body></html>
"""


def page(pair: Pair, clean, augmented, distance: np.ndarray, image: bytes, lay: Layout,
         mask, told: list[str]) -> str:
    """features.html: ``clean`` / ``augmented`` are train_adapter.features.LogMel, ``told`` what
    :func:`notes` says of them; ``mask`` masks personal data in every id and text shown
    (curate.checks.pii.redact_text)."""
    def shown(text):
        return esc(mask(text) or "")

    step = "".join(f"<tr><th>{shown(k)}</th><td>{shown(json.dumps(v, ensure_ascii=False))}"
                   f"</td></tr>" for k, v in pair.step.items() if k != "stage")
    numbers = json.dumps([round(float(d), 5) for d in distance])
    return PAGE.format(
        title=shown(pair.augmented.id), clean_id=shown(pair.clean.id),
        clean_text=shown(pair.clean.text), clean_dur=f"{pair.clean.duration:.2f}",
        aug_id=shown(pair.augmented.id), aug_text=shown(pair.augmented.text),
        aug_dur=f"{pair.augmented.duration:.2f}", stage=shown(pair.stage), step=step,
        png=base64.b64encode(image).decode("ascii"), width=lay.width, height=lay.height,
        lo=lay.lo, hi=lay.hi, peak=float(distance.max()), frame_px=lay.frame_px,
        frames=lay.frames, fps=FRAMES_PER_SECOND, seconds=lay.frames / FRAMES_PER_SECOND,
        note=esc(" ".join(told)),
        clean_frames=clean.frames, aug_frames=augmented.frames,
        clean_enc=clean.encoder_frames, aug_enc=augmented.encoder_frames,
        window=clean.window_frames, compared=len(distance),
        mean=float(distance.mean()), max=float(distance.max()),
        distances=numbers)


def notes(clean, augmented) -> list[str]:
    """What a reader must know to read the distance right."""
    out = []
    if clean.frames != augmented.frames:
        out.append(f"The clips differ in length ({clean.frames} and {augmented.frames} frames: "
                   f"the stage changed the time axis), so the distance covers the first "
                   f"{min(clean.frames, augmented.frames)} frames, where the same moment of speech "
                   f"does not sit at the same frame.")
    if clean.truncated or augmented.truncated:
        out.append(f"A clip is longer than the encoder window ({clean.window_frames} frames): "
                   f"only its first {clean.window_frames} frames are seen and shown.")
    return out
