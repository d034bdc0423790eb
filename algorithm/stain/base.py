"""What every colour normaliser shares: fit / fit_source / transform, batching, fallbacks.

A normaliser has *target* parameters (``fit``) and optional *source*
parameters (``fit_source``). With both fixed, the output is a fixed per-pixel
map (:class:`~algorithm.stain.pixel_map.PixelMap`), applied to whole batches
on the input's device, through a colour table on the CPU. Without a fixed
source, each image gets its own source parameters (StainTools' behaviour), and
an image that cannot be fitted is returned unchanged.

Statistics (concentration percentiles, Lab means and deviations) depend on how
much glass the measured pixels include. Source and target must be measured
alike, so ``statistics="auto"`` (default) uses StainTools' all-pixel
statistics per image (parity), and tissue-pixel statistics (the luminosity
test) for both the target and the slide in the per-slide mode, whose source
pixels are sampled from tissue. ``"all"`` or ``"tissue"`` force one choice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, overload

import numpy as np
import torch

from algorithm.errors import ConfigError
from algorithm.stain.errors import NotFittedError, StainFitError
from algorithm.stain.images import ImageBatch, ImageLike, as_image_batch
from algorithm.stain.pixel_map import LookupTable, MemoTable, PixelMap

Params = tuple[np.ndarray, ...]
STATISTICS = ("auto", "all", "tissue")


class Normaliser(ABC):
    """Base class.

    ``use_lut``: None = on the CPU a table memoised per colour (filled as
    colours occur), direct computation elsewhere; True = the full 256^3
    table, built up front; False = direct computation. ``statistics``: see the module docstring.
    """

    method = "base"

    def __init__(self, use_lut: bool | None = None, statistics: str = "auto"):
        if statistics not in STATISTICS:
            raise ConfigError(f"statistics must be one of {', '.join(STATISTICS)}, got {statistics!r}")
        self.use_lut = use_lut
        self.statistics = statistics
        self.target: Params | None = None  # for per-image transforms
        self.slide_target: Params | None = None  # for the fixed (per-slide) source
        self.source: Params | None = None
        self._maps: dict[str, PixelMap] = {}
        self._luts: dict[str, LookupTable] = {}
        self._memo: MemoTable | None = None

    @abstractmethod
    def estimate(self, rgb: ImageLike, tissue_only: bool = False) -> Params:
        """Parameters of uint8 RGB (image or pixels), statistics over all pixels or tissue only.

        Raises StainFitError when it cannot be fitted.
        """

    @abstractmethod
    def _make_map(self, source: Params, target: Params, device: torch.device) -> PixelMap:
        """The per-pixel map from ``source`` parameters to ``target`` parameters."""

    def _tissue_only(self, slide_mode: bool) -> bool:
        if self.statistics == "auto":
            return slide_mode
        return self.statistics == "tissue"

    # ----- fitting -----------------------------------------------------------------
    def fit(self, target: ImageLike) -> Normaliser:
        """Learn the target's parameters (for both per-image and per-slide use)."""
        per_image = self.estimate(target, self._tissue_only(False))
        slide = per_image if self._tissue_only(True) == self._tissue_only(False) else self.estimate(target, True)
        self._set_target(per_image, slide)
        return self

    def _set_target(self, per_image: Params, slide: Params | None = None) -> None:
        self.target = per_image
        self.slide_target = per_image if slide is None else slide
        self._invalidate()

    def load_target(self, params: dict[str, Any]) -> Normaliser:
        """Restore a target saved with :meth:`params` (e.g. inside a model checkpoint)."""
        if params.get("method") != self.method or params.get("target") is None:
            raise ConfigError(f"saved stain parameters are for {params.get('method')!r}, not {self.method!r}")
        per_image = tuple(np.asarray(a, dtype=np.float64) for a in params["target"])
        slide = params.get("slide_target")
        self._set_target(per_image, None if slide is None else tuple(np.asarray(a, dtype=np.float64) for a in slide))
        return self

    def fit_source(self, pixels: ImageLike) -> Normaliser:
        """Fix the source (slide) parameters once, from tissue pixels sampled across the slide.

        ``transform`` then applies one fixed map to every tile (fast), and
        tiles with little or no tissue are mapped with the slide's parameters.
        """
        self.source = self.estimate(pixels, self._tissue_only(True))
        self._invalidate()
        return self

    def reset_source(self) -> None:
        """Back to fitting every image on its own (StainTools' behaviour)."""
        self.source = None
        self._invalidate()

    @property
    def is_fitted(self) -> bool:
        """Whether a target is set (``fit`` called or loaded)."""
        return self.target is not None

    @property
    def has_source(self) -> bool:
        """Whether the source is fixed (``fit_source``): then the map is the same for every pixel's colour."""
        return self.source is not None

    def params(self) -> dict[str, Any]:
        """Fitted parameters as plain lists (JSON-serialisable)."""

        def tolist(p: Params | None) -> list | None:
            return None if p is None else [np.asarray(a).tolist() for a in p]

        return {
            "method": self.method,
            "statistics": self.statistics,
            "target": tolist(self.target),
            "slide_target": tolist(self.slide_target),
            "source": tolist(self.source),
        }

    def _invalidate(self) -> None:
        self._maps.clear()
        self._luts.clear()
        self._memo = None

    # ----- transforming ------------------------------------------------------------
    @overload
    def transform(self, images: np.ndarray) -> np.ndarray: ...
    @overload
    def transform(self, images: torch.Tensor) -> torch.Tensor: ...
    def transform(self, images: ImageLike) -> ImageLike:
        """Normalise uint8 RGB ``(H, W, 3)``, ``(N, H, W, 3)`` or ``(P, 3)``, numpy or torch.

        Returns a new array/tensor of the same type, shape and device; the
        input is never modified. Before ``fit``: NotFittedError; anything but
        uint8 RGB, channels last: InputTypeError or InputShapeError (all
        ConfigErrors; see :mod:`algorithm.stain.errors`).
        """
        if self.target is None:
            raise NotFittedError(f"{self.method} normaliser has no target: call fit(target) first")
        batch = as_image_batch(images)
        if batch.pixels.shape[0] == 0:
            return batch.wrap(batch.pixels.clone())
        if self.source is not None:
            return batch.wrap(self._apply_fixed(batch))
        return batch.wrap(self._apply_per_image(batch))

    @overload
    def __call__(self, images: np.ndarray) -> np.ndarray: ...
    @overload
    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...
    def __call__(self, images: ImageLike) -> ImageLike:
        """Same as :meth:`transform`: a normaliser is a tile transform."""
        return self.transform(images)

    def fixed_map(self, device: torch.device | str = "cpu") -> PixelMap:
        """The per-pixel map with the fixed (slide) source, computed directly on ``device`` (no table)."""
        if self.target is None or self.source is None:
            raise NotFittedError(f"{self.method} normaliser: a fixed map needs fit() and fit_source() first")
        device = torch.device(device)
        key = str(device)
        if key not in self._maps:
            assert self.source is not None and self.slide_target is not None
            self._maps[key] = self._make_map(self.source, self.slide_target, device)
        return self._maps[key]

    def lookup_table(self, device: torch.device | str = "cpu") -> LookupTable:
        """The fixed map's 256^3 table on ``device`` (built on first use: 1-4 s on 2 CPU cores)."""
        if self.target is None or self.source is None:
            raise NotFittedError(f"{self.method} normaliser: a lookup table needs fit() and fit_source() first")
        device = torch.device(device)
        key = str(device)
        if key not in self._luts:
            self._luts[key] = LookupTable(self.fixed_map(device), device)
        return self._luts[key]

    def memo_table(self) -> MemoTable:
        """The fixed map memoised per colour on the CPU (the default CPU path; see ``MemoTable``)."""
        if self._memo is None:
            self._memo = MemoTable(self.fixed_map("cpu"))
        return self._memo

    def _apply_fixed(self, batch: ImageBatch) -> torch.Tensor:
        if self.use_lut:
            return self.lookup_table(batch.device)(batch.pixels)
        if self.use_lut is None and batch.device.type == "cpu":
            return self.memo_table()(batch.pixels)
        return self.fixed_map(batch.device)(batch.pixels)

    def _apply_per_image(self, batch: ImageBatch) -> torch.Tensor:
        assert self.target is not None  # checked by the caller (transform)
        target = self.target
        out = torch.empty_like(batch.pixels)
        step = batch.pixels_per_image
        for i, img in enumerate(batch.images()):
            part = out[i * step : (i + 1) * step]
            try:
                source = self.estimate(img, self._tissue_only(False))
            except StainFitError:
                part.copy_(img)  # cannot be fitted (no tissue, one colour): unchanged
                continue
            part.copy_(self._make_map(source, target, batch.device)(img))
        return out
