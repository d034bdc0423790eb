"""Scanner augmentation: what differs between scanners beyond colour (optics, compression, sensor noise).

Stain augmentation covers colour; a model trained on two scanners also learns their
sharpness and JPEG texture, and a third scanner's softer optics or harder compression
then shifts every prediction. Each image independently gets, with probability ``p``
each: a Gaussian blur (sigma uniform in ``blur``), JPEG at a quality uniform in
``jpeg``, and Gaussian noise (sigma uniform in ``noise``, grey levels).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from algorithm.errors import ConfigError


class _HasPixels(Protocol):
    @property
    def pixels(self) -> NDArray[np.uint8]: ...


P = TypeVar("P", bound=_HasPixels)


@dataclass(frozen=True)
class ScannerAugment:
    """Per-image blur, JPEG and noise, each applied with probability ``p``."""

    p: float = 0.5
    blur: tuple[float, float] = (0.3, 1.5)  # Gaussian sigma, pixels
    jpeg: tuple[int, int] = (60, 95)  # quality
    noise: tuple[float, float] = (1.0, 6.0)  # sigma, grey levels

    def __call__(self, images: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
        """A new batch ``(N, H, W, 3)`` uint8, each image augmented independently (deterministic given ``rng``)."""
        out = np.empty_like(images)
        for i, image in enumerate(images):
            picture = Image.fromarray(image)
            if rng.random() < self.p:
                picture = picture.filter(ImageFilter.GaussianBlur(float(rng.uniform(*self.blur))))
            if rng.random() < self.p:
                buffer = io.BytesIO()
                picture.save(buffer, format="JPEG", quality=int(rng.integers(self.jpeg[0], self.jpeg[1] + 1)))
                picture = Image.open(buffer)
            pixels = np.asarray(picture.convert("RGB"), dtype=np.float32)
            if rng.random() < self.p:
                pixels = pixels + rng.normal(0.0, float(rng.uniform(*self.noise)), pixels.shape).astype(np.float32)
            out[i] = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
        return out


def patch_scanner_augment(p: float) -> Callable[[P, np.random.Generator], P] | None:
    """:class:`ScannerAugment` with probability ``p`` for one training patch (a dataclass with
    ``pixels``, e.g. the detector's); None when ``p`` is 0. Geometry is untouched, so boxes stay."""
    if not 0 <= p <= 1:
        raise ConfigError(f"--scanner-augment: a probability in [0, 1], got {p:g}")
    if p == 0:
        return None
    scanner = ScannerAugment(p=p)

    def augment(patch: P, rng: np.random.Generator) -> P:
        return dataclasses.replace(patch, pixels=scanner(patch.pixels[None], rng)[0])  # type: ignore[type-var]

    return augment


def chain(*steps: Callable[[P, np.random.Generator], P] | None) -> Callable[[P, np.random.Generator], P] | None:
    """The given patch augmentations one after the other (Nones skipped); None when there are none."""
    present = [step for step in steps if step is not None]
    if not present:
        return None

    def augment(patch: P, rng: np.random.Generator) -> P:
        for step in present:
            patch = step(patch, rng)
        return patch

    return augment
