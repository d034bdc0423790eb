"""The one protocol every tile model follows, and adapters that make any torch module follow it.

A tile model takes a batch of tiles, ``(N, 3, H, W)`` float in [0, 1] on its
device (already resampled to its resolution and stain-normalised), and gives
either detections (boxes in tile pixels with scores and labels) or a
probability map per tile. The engine calls three steps so it can time them
and overlap them on a GPU:

- ``forward(tiles)``: the network, on the device;
- ``postprocess(raw)``: what turns its raw output into results, still on the
  device, for the whole batch at once;
- ``to_host(output)``: the results as numpy arrays (the one synchronisation).

``DetectionModel(module)`` and ``ProbabilityModel(module)`` wrap a plain
module, a TorchScript file (:func:`load_torchscript`) or a torchvision
detector, so a participant's own model runs with the kit's reading,
normalisation, stitching, NMS and outputs.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torchvision.models.detection import RetinaNet

from algorithm.engine.retinanet import BatchedRetinaNet, TileDetections, detections_from_dicts
from algorithm.engine.views import MIRRORS, check_views, fuse_detections, stack_views
from algorithm.errors import ConfigError


@runtime_checkable
class TileModel(Protocol):
    """What the engine runs: three steps, so that the device can be kept busy between them."""

    def forward(self, tiles: torch.Tensor) -> Any:
        """The network on a batch ``(N, 3, H, W)`` float in [0, 1] on the device (under autocast on CUDA)."""
        ...

    def postprocess(self, raw: Any) -> Any:
        """``forward``'s output turned into results, still on the device (batched: no per-tile loop)."""
        ...

    def to_host(self, output: Any) -> Any:
        """Results copied to the host (numpy), in the batch's tile order; called one batch later on CUDA."""
        ...


@dataclass
class HostDetections:
    """A batch's detections on the host, in tile pixels."""

    boxes: NDArray[np.float32]  # (K, 4) x1, y1, x2, y2
    scores: NDArray[np.float64]  # (K,)
    labels: NDArray[np.int64]  # (K,)
    tile: NDArray[np.int64]  # (K,) index of the tile in its batch

    @property
    def centres(self) -> NDArray[np.float64]:
        """Box centres ``(n, 2)`` (x, y) in tile pixels."""
        b = self.boxes
        return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1).astype(np.float64)


class DetectionModel:
    """A detector as a tile model.

    ``module(tiles)`` may return :class:`~algorithm.engine.retinanet.TileDetections`
    or torchvision's list of ``{"boxes", "scores", "labels"}`` dicts, one per
    tile. A torchvision ``RetinaNet`` is run through
    :class:`~algorithm.engine.retinanet.BatchedRetinaNet` (post-processing for
    the whole batch at once; same detections). ``views``: 1, or 2 / 4 to detect
    each tile and its mirror images in one batch and fuse the views' calls
    (centres within ``radius_px`` tile pixels; :mod:`algorithm.engine.views`:
    ``views`` times the model's work); ``one_batch``: the views through the
    network as one batch (default: on a GPU; a CPU runs them one after another,
    which is faster there). Detections scoring below ``min_score`` (after
    fusion) are dropped.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        min_score: float = 0.05,
        batched: bool = True,
        views: int = 1,
        radius_px: float = 10.0,
        one_batch: bool | None = None,
    ) -> None:
        if batched and isinstance(module, RetinaNet):
            module = BatchedRetinaNet(module)
        self.module = module
        self.min_score = float(min_score)
        self.views, self.radius_px, self.one_batch = check_views(views), float(radius_px), one_batch

    def forward(self, tiles: torch.Tensor) -> Any:
        """Raw outputs of the batch's views: a torchvision RetinaNet's heads only (decoded for the whole batch in
        ``postprocess``)."""
        if self.views == 1:
            return self._raw(tiles)
        seen = stack_views(tiles, self.views)
        # a GPU runs the views as one batch; a CPU runs a batch of 4 x 8 tiles ~1.5x slower than 4 of 8
        one_batch = tiles.device.type != "cpu" if self.one_batch is None else self.one_batch
        passes = (seen,) if one_batch else seen.split(len(tiles))
        return _Views([(self._raw(p), len(p)) for p in passes], len(tiles), (tiles.shape[-2], tiles.shape[-1]))

    def postprocess(self, raw: Any) -> TileDetections:
        """Boxes, scores and labels of the whole batch (its views fused), at or above ``min_score``."""
        if isinstance(raw, _Views):
            parts, offset = [], 0
            for part, count in raw.passes:
                found = self._decoded(part)
                parts.append(TileDetections(found.boxes, found.scores, found.labels, found.tile + offset))
                offset += count
            found = fuse_detections(TileDetections.concat(parts), raw.tiles, self.views, raw.size, self.radius_px)
        else:
            found = self._decoded(raw)
        keep = found.scores >= self.min_score
        return TileDetections(found.boxes[keep], found.scores[keep], found.labels[keep], found.tile[keep])

    def _raw(self, tiles: torch.Tensor) -> Any:
        return self.module.head_outputs(tiles) if isinstance(self.module, BatchedRetinaNet) else self.module(tiles)

    def _decoded(self, raw: Any) -> TileDetections:
        if isinstance(self.module, BatchedRetinaNet):
            return self.module.postprocess(raw)
        if isinstance(raw, TileDetections):
            return raw
        if isinstance(raw, (list, tuple)):
            return detections_from_dicts(raw)
        raise ConfigError(f"a detection model must return TileDetections or a list of dicts, got {type(raw).__name__}")

    def to_host(self, output: TileDetections) -> HostDetections:
        """The batch's detections as numpy, with the tile each belongs to."""
        return HostDetections(
            boxes=output.boxes.float().cpu().numpy(),
            scores=output.scores.float().cpu().numpy().astype(np.float64),
            labels=output.labels.cpu().numpy().astype(np.int64),
            tile=output.tile.cpu().numpy().astype(np.int64),
        )


@dataclass
class _Views:
    """The raw outputs of ``views`` x ``tiles`` tiles (view after view) of ``size`` (h, w), for ``postprocess``:
    one per pass over the network, with the tiles it ran."""

    passes: list[tuple[Any, int]]
    tiles: int
    size: tuple[int, int]


class ProbabilityModel:
    """A per-pixel model as a tile model: ``module(tiles)`` -> ``(N, C, h, w)``.

    ``activation``: "sigmoid" or "softmax" for logits, None for probabilities;
    ``channel``: which map to keep; ``size``: ``(w, h)`` to area-average the
    maps to on the device (e.g. a heatmap's resolution), None to keep them;
    ``views``: 1, or 2 / 4 to average the module's maps over the tile and its
    mirror images (left-right; and top-bottom, both), each mapped back (test-time
    augmentation: ``views`` times the model's work). Host output: ``(N, h, w)`` float32.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        size: tuple[int, int] | None = None,
        activation: str | None = "sigmoid",
        channel: int = 0,
        views: int = 1,
    ) -> None:
        if activation not in ("sigmoid", "softmax", None):
            raise ConfigError(f"activation must be sigmoid, softmax or None, got {activation!r}")
        self.module, self.size, self.activation, self.channel = module, size, activation, channel
        self.views = check_views(views)

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """The module's maps (logits or probabilities, per its ``activation``), averaged over the views."""
        total: torch.Tensor | None = None
        for dims in MIRRORS[self.views]:
            maps = self.module(tiles.flip(dims)).flip(dims) if dims else self.module(tiles)
            total = maps if total is None else total + maps
        assert total is not None
        return total if self.views == 1 else total / self.views

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        """Probabilities of ``channel``, area-pooled to ``size`` on the device: ``(N, h, w)`` float32."""
        x = raw.float()
        if x.ndim == 3:
            x = x[:, None]
        if self.activation == "sigmoid":
            x = torch.sigmoid(x)
        elif self.activation == "softmax":
            x = torch.softmax(x, dim=1)
        x = x[:, self.channel : self.channel + 1]
        if self.size is not None and (x.shape[-1], x.shape[-2]) != tuple(self.size):
            x = F.interpolate(x, size=(self.size[1], self.size[0]), mode="area")
        return x[:, 0]

    def to_host(self, output: torch.Tensor) -> NDArray[np.float32]:
        """The pooled maps as float32 numpy."""
        return output.cpu().numpy().astype(np.float32, copy=False)


class ClassifierModel:
    """A per-tile classifier as a tile model: ``module(tiles)`` -> logits ``(N,)`` or ``(N, C)``.

    ``activation`` and ``channel`` as :class:`ProbabilityModel`'s (``(N,)`` logits are one
    channel); ``views``: 1, 2 or 4 mirror images of each tile, their logits averaged
    (test-time augmentation). Host output: ``(N,)`` float32 probabilities, one per tile.
    """

    def __init__(
        self, module: torch.nn.Module, activation: str | None = "sigmoid", channel: int = 0, views: int = 1
    ) -> None:
        # the activation and channel selection of a probability map, on (N, C, 1, 1) "maps"
        self.maps = ProbabilityModel(module, None, activation, channel, views)
        self.module, self.views = module, views

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """The module's logits, averaged over the views, as ``(N, C, 1, 1)``."""
        total: torch.Tensor | None = None
        for dims in MIRRORS[self.views]:
            logits = self.module(tiles.flip(dims) if dims else tiles)
            total = logits if total is None else total + logits
        assert total is not None
        mean = total if self.views == 1 else total / self.views
        return (mean[:, None] if mean.ndim == 1 else mean)[:, :, None, None]

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        """One probability of ``channel`` per tile: ``(N,)`` float32."""
        return self.maps.postprocess(raw)[:, 0, 0]

    def to_host(self, output: torch.Tensor) -> NDArray[np.float32]:
        """The probabilities as float32 numpy."""
        return self.maps.to_host(output)


def load_torchscript(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> torch.nn.Module:
    """A TorchScript module saved with ``torch.jit.save``, on ``device``, in eval mode."""
    try:
        with warnings.catch_warnings():  # torch 2.14 marks TorchScript deprecated; it still loads
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=torch.device(device))
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(f"{path}: not a TorchScript model file ({_not_torchscript(Path(path), exc)})") from exc
    return module.eval()


def _not_torchscript(path: Path, exc: Exception) -> str:
    """Why ``torch.jit.load(path)`` failed, in the user's terms rather than torch's archive reader's."""
    if not path.is_file():
        return "file not found"
    if not zipfile.is_zipfile(path):
        return "not a file torch.jit.save wrote"
    with zipfile.ZipFile(path) as archive:
        if not any(name.endswith("constants.pkl") for name in archive.namelist()):
            return "a file torch.save wrote, not TorchScript: save a scripted or traced module with torch.jit.save"
    text = str(exc)
    return text.splitlines()[0].split(". ")[0] if text else repr(exc)  # torch's first sentence
