"""Make the bundled car-cabin room impulse responses (curate/demo/rirs/) that `reverb` uses.

Method: the image-source method for a rectangular room (Allen & Berkley, "Image method for
efficiently simulating small-room acoustics", JASA 65, 1979), randomised as De Sena et al. propose
("On the modeling of rectangular geometries in room acoustic simulations", IEEE/ACM TASLP 23, 2015):
each image source of second or higher order is moved by a random offset of up to ``JITTER_M`` in
each axis, which breaks the regular lattice of arrival times that makes a plain image-method
response of a small box ring ("sweeping echoes"); the direct sound and the first reflections stay
where the geometry puts them. A car cabin is modelled as a box:

  - size drawn per response: length 2.0–2.6 m, width 1.30–1.50 m, height 1.00–1.20 m;
  - talker's mouth in a front or rear seat (0.20–0.30 m either side of a seat centre 0.35–0.40 m
    from the side wall, 0.85–1.00 m up, 0.95–1.15 m (front) or 1.75–2.05 m (rear) from the
    windscreen);
  - microphone in the overhead console: 0.30–0.45 m from the windscreen, centred ±0.05 m, flush
    with the roof lining, where hands-free microphones sit (a boundary microphone: the roof's
    reflection arrives with the direct sound rather than a sample after it);
  - one frequency-independent pressure reflection coefficient ``b = sqrt(1 - a)`` on every wall,
    the absorption ``a`` set by Eyring's formula ``RT60 = 0.161 V / (-S ln(1 - a))`` for a target
    RT60; the targets are spread evenly over 0.05–0.30 s (a small, upholstered cabin);
  - each image contributes ``b^(reflections) / (4 pi distance)`` at the sample nearest its
    arrival time (16 kHz); the response runs from the direct sound to RT60 after it, when the
    decay has fallen by 60 dB; no high-pass is applied;
  - written as 24-bit FLAC with the direct sound at peak 0.9, named with the RT60 and the seat.

Everything is drawn from ``numpy.random.default_rng(SEED)``, so rerunning the script writes the
same files. The method is numpy only; soundfile writes the FLAC files.

    python scripts/make_rirs.py            # rewrites curate/demo/rirs/*.flac and its README
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from plugins.reverb import drr_db  # noqa: E402  (the DRR as the stage measures it)

SR = 16000
C = 343.0            # speed of sound, m/s
SEED = 16
COUNT = 10
RT60_RANGE = (0.05, 0.30)
JITTER_M = 0.08      # randomised image method: each image moves up to this far in each axis
OUT = ROOT / "curate" / "demo" / "rirs"


def eyring_reflection(size: np.ndarray, rt60: float) -> float:
    """The wall pressure reflection coefficient that gives ``rt60`` in a box of ``size``."""
    lx, ly, lz = size
    volume, surface = lx * ly * lz, 2 * (lx * ly + lx * lz + ly * lz)
    absorption = 1 - math.exp(-0.161 * volume / (surface * rt60))
    return math.sqrt(1 - absorption)


def image_rir(size, source, mic, beta: float, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """The impulse response from ``source`` to ``mic`` (metres) in a box of ``size``, to RT60
    after the direct sound."""
    size, source, mic = (np.asarray(v, dtype=float) for v in (size, source, mic))
    direct = float(np.linalg.norm(source - mic))
    reach = direct + C * rt60                 # images farther than this arrive after the end
    n = int(math.ceil(reach * SR / C)) + 1
    h = np.zeros(n)
    orders = [np.arange(-int(reach // (2 * L)) - 1, int(reach // (2 * L)) + 2) for L in size]
    # Along one axis the images sit at (1 - 2u) s + 2 l L after |l - u| + |l| reflections.
    axes = []
    for k in range(3):
        l, u = np.meshgrid(orders[k], (0, 1), indexing="ij")
        pos = (1 - 2 * u) * source[k] + 2 * l * size[k] - mic[k]
        axes.append((pos.ravel(), (np.abs(l - u) + np.abs(l)).ravel()))
    (px, rx), (py, ry), (pz, rz) = axes
    for x, r in zip(px, rx):                  # one slab of images at a time: bounded memory
        dy, dz = np.meshgrid(py, pz, indexing="ij")
        refl = r + np.add.outer(ry, rz)
        offset = rng.uniform(-JITTER_M, JITTER_M, size=(3,) + dy.shape)
        offset[:, refl <= 1] = 0.0            # the direct sound and first reflections stay put
        dist = np.sqrt((x + offset[0]) ** 2 + (dy + offset[1]) ** 2 + (dz + offset[2]) ** 2)
        keep = dist <= reach
        taps = np.rint(dist[keep] * SR / C).astype(int)
        np.add.at(h, taps, beta ** refl[keep] / (4 * math.pi * dist[keep]))
    start = int(round(direct * SR / C))
    return h[start:start + int(round(rt60 * SR)) + 1]


def cabin(rng: np.random.Generator, rear: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = np.array([rng.uniform(2.0, 2.6), rng.uniform(1.30, 1.50), rng.uniform(1.00, 1.20)])
    side = rng.uniform(0.35, 0.40) + rng.uniform(-0.05, 0.05)
    y = side if rng.random() < 0.5 else size[1] - side
    x = rng.uniform(1.75, 2.05) if rear else rng.uniform(0.95, 1.15)
    source = np.array([min(x, size[0] - 0.2), y, rng.uniform(0.85, 1.00)])
    mic = np.array([rng.uniform(0.30, 0.45), size[1] / 2 + rng.uniform(-0.05, 0.05), size[2]])
    return size, source, mic


def main() -> None:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.flac"):
        old.unlink()
    rows = []
    for i, rt60 in enumerate(np.linspace(*RT60_RANGE, COUNT)):
        rear = bool(i % 3 == 2)
        size, source, mic = cabin(rng, rear)
        beta = eyring_reflection(size, rt60)
        h = image_rir(size, source, mic, beta, rt60, rng)
        h *= 0.9 / np.max(np.abs(h))
        name = f"cabin{i + 1:02d}_rt{int(round(rt60 * 1000)):03d}ms_{'rear' if rear else 'front'}"
        sf.write(OUT / f"{name}.flac", h.astype(np.float32), SR, subtype="PCM_24")
        rows.append(f"| {name}.flac | {rt60:.3f} | {' × '.join(f'{v:.2f}' for v in size)} | "
                    f"{np.linalg.norm(source - mic):.2f} | {beta:.3f} | {drr_db(h):.1f} |")
    (OUT / "README.md").write_text(README.format(table="\n".join(rows)), encoding="utf-8")


README = """# Car-cabin room impulse responses

Synthetic impulse responses of small car cabins, the default of the `reverb` stage. Made by
`scripts/make_rirs.py` (numpy only; its docstring gives the method and every parameter): the
image-source method (Allen & Berkley 1979) with randomised image positions (De Sena et al. 2015),
a box cabin with the talker in a front or rear seat and the microphone in the overhead console,
wall reflection set by Eyring's formula for RT60s spread over 0.05–0.30 s. 16 kHz, 24-bit FLAC,
the direct sound first at peak 0.9, each file ending RT60 after it.

| file | RT60 (s) | cabin (m) | talker–mic (m) | wall reflection | own DRR (dB) |
|---|---|---|---|---|---|
{table}

Regenerate with `python scripts/make_rirs.py` (the same files: every draw is seeded).
"""

if __name__ == "__main__":
    main()
