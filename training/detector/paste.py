"""Synthetic mitotic figures pasted into real tissue: positives in real context.

The real H&E images here carry no mitosis labels, so on their own they can only
teach the detector what is *not* a figure. Pasting the generator's own figures
into them gives positives whose surroundings are real: vesicular nuclei,
dense cytoplasm, real stroma. A detector trained only on synthetic slides can
rely on what the generator always draws around a figure (its clear halo, its
smooth background); here it has to find the chromatin itself.

A figure's *stamp* is its chromatin drawn alone (the generator's drawing: the
same clumps, darkness and phase, no halo, no neighbours) at the detector's
resolution, as a haematoxylin concentration and a cover (how much of what lies
beneath it hides). Pasting works in optical density, as stain on stain does
(Beer-Lambert): ``OD = OD_real * (1 - a * cover) + strength * C_H * h``, where
``h`` is the haematoxylin vector of the stains the patch is in (the
normalisation target's), ``a`` = 0.8 and ``strength`` drawn per paste; then a
slight blur, as the optics of a real scanner would give.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from algorithm.errors import ConfigError
from algorithm.stain.extractor import order_and_normalise
from algorithm.stain.optical_density import od_to_rgb, rgb_to_od
from algorithm.stain.spec import StainSpec
from training.datasets.annotations import SlideAnnotations
from training.synth.config import SynthConfig
from training.synth.drawing import Canvas, draw_specials
from training.synth.specials import MITOSIS, Specials, specials

# Ruifrok and Johnston's haematoxylin OD vector: the stains of patches that are not normalised
RUIFROK_HAEMATOXYLIN = (0.650, 0.704, 0.286)
OCCLUSION = 0.8  # how much of the tissue under a figure's full cover it hides
STRENGTH = (0.8, 1.2)  # the pasted chromatin's darkness, a factor drawn per paste
BLUR_UM = (0.1, 0.4)  # the optics' Gaussian sigma drawn per paste, micrometres


@dataclass(frozen=True)
class Stamp:
    """One figure's chromatin at the detector's resolution, centred: square (S, S) maps."""

    haematoxylin: NDArray[np.float32]  # concentration
    cover: NDArray[np.float32]  # 0..1, how much of what lies beneath it hides


def haematoxylin_vector(spec: StainSpec | None) -> NDArray[np.float64]:
    """The haematoxylin OD vector of the stains training patches are in: the normalisation target's (Macenko,
    Vahadane), else Ruifrok and Johnston's."""
    if spec is not None and spec.method in ("macenko", "vahadane"):
        return np.asarray(order_and_normalise(np.asarray(spec.target[0]))[0], dtype=np.float64)
    return np.asarray(RUIFROK_HAEMATOXYLIN, dtype=np.float64)


def figure_stamps(slides: list[SlideAnnotations], mpp: float, per_slide: int, seed: int) -> list[Stamp]:
    """Up to ``per_slide`` stamps of each synthetic slide's mitotic figures (from its truth file's configuration),
    drawn at ``mpp``; chosen from ``seed`` alone. Slides without a truth file (MIDOG's) give none."""
    rng = np.random.default_rng([seed, 0x57A4])
    stamps: list[Stamp] = []
    for slide in slides:
        config = _synth_config(slide)
        if config is None:
            continue
        sp = specials(config)
        figures = np.flatnonzero(sp.category == MITOSIS)
        chosen = rng.permutation(figures)[:per_slide]
        for i in sorted(chosen.tolist()):
            stamps.append(_stamp(sp.select(np.array([i])), mpp / float(config.mpp)))
    return stamps


def _synth_config(slide: SlideAnnotations) -> SynthConfig | None:
    if slide.path is None:
        return None
    truth = Path(slide.path).with_name(f"{Path(slide.path).stem}.truth.json")
    if not truth.is_file():
        return None
    try:
        return SynthConfig.from_dict(json.loads(truth.read_text())["config"], source=str(truth))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{truth}: no readable slide configuration ({exc!r})") from exc


def _stamp(figure: Specials, downsample: float) -> Stamp:
    """Draw one figure alone (no halo) on a canvas ``downsample`` level-0 px per pixel, centred on it."""
    figure = dataclasses.replace(figure, halo=np.zeros_like(figure.halo))
    size = int(np.ceil(2 * float(figure.extent[0]) / downsample)) + 4
    x0 = float(figure.x[0]) - size * downsample / 2
    y0 = float(figure.y[0]) - size * downsample / 2
    canvas = Canvas(x0, y0, size, size, downsample)
    draw_specials(canvas, figure)
    acc = canvas.result()
    return Stamp(acc["h_flat"].copy(), np.clip(acc["cover"], 0.0, 1.0))


def paste(
    pixels: NDArray[np.uint8],
    stamp: Stamp,
    centre: tuple[float, float],
    haematoxylin: NDArray[np.float64],
    strength: float = 1.0,
    blur_px: float = 0.0,
) -> NDArray[np.uint8]:
    """``pixels`` (H, W, 3) with ``stamp`` pasted at ``centre`` (x, y in pixels; clipped at the edges)."""
    h, c = stamp.haematoxylin, stamp.cover
    if blur_px > 0:
        h, c = gaussian_filter(h, blur_px), gaussian_filter(c, blur_px)
    out = pixels.copy()
    where = square_overlap(h.shape[0], centre, pixels.shape[:2])
    if where is None:
        return out
    dst, src = where
    od = rgb_to_od(pixels[dst])
    vector = np.asarray(haematoxylin, dtype=np.float64)
    od = od * (1.0 - OCCLUSION * c[src][..., None]) + strength * h[src][..., None] * vector
    out[dst] = od_to_rgb(od)
    return out


Slices = tuple[slice, slice]


def square_overlap(size: int, centre: tuple[float, float], shape: tuple[int, ...]) -> tuple[Slices, Slices] | None:
    """Where a ``size`` square centred at ``centre`` (x, y) lands in an image of ``shape`` (H, W, ...): the
    image's slices and the square's, clipped at the edges; None when it misses the image."""
    x0 = int(round(centre[0] - size / 2))
    y0 = int(round(centre[1] - size / 2))
    height, width = shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + size, width), min(y0 + size, height)
    if xa >= xb or ya >= yb:
        return None
    return (slice(ya, yb), slice(xa, xb)), (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))


class FigurePaster:
    """Pastes a random stamp into a patch: darkness and blur drawn per paste."""

    def __init__(self, stamps: list[Stamp], haematoxylin: NDArray[np.float64], mpp: float) -> None:
        """``haematoxylin``: the unit OD vector of the stains the patches are in; ``mpp``: the patches' resolution."""
        if not stamps:
            raise ConfigError("no mitotic figures to paste: the training slides list none (synthetic slides needed)")
        self.stamps = stamps
        self.haematoxylin = np.asarray(haematoxylin, dtype=np.float64)
        self.mpp = mpp

    def __call__(
        self, pixels: NDArray[np.uint8], centre: tuple[float, float], rng: np.random.Generator
    ) -> NDArray[np.uint8]:
        """``pixels`` with one random figure pasted at ``centre``."""
        stamp = self.stamps[int(rng.integers(len(self.stamps)))]
        strength = float(rng.uniform(*STRENGTH))
        blur = float(rng.uniform(*BLUR_UM)) / self.mpp
        return paste(pixels, stamp, centre, self.haematoxylin, strength, blur)
