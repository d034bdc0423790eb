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

``DetectionModel(module)``, ``ProbabilityModel(module)`` and
``ClassifierModel(module)`` wrap a plain module, a TorchScript file
(:func:`~algorithm.engine.model_files.load_torchscript`,
:func:`~algorithm.engine.model_files.load_exported`) or a torchvision model, so a participant's own model
runs with the kit's reading, normalisation, stitching, NMS and outputs. Each
adapter puts its module in eval mode when it wraps it (``module.eval()``: a
BatchNorm in training mode would make the maps depend on the batch and update
the module's running statistics; a torchvision detector in training mode wants
targets), and :class:`~algorithm.engine.TileRun` moves the module to its
device (``module.to(device)``, where any of its parameters or buffers is
elsewhere) -- both change the module given, as torch's own calls do. What the
module returns is checked per batch (type and shape only: no device
synchronisation) and a mismatch is a :class:`~algorithm.errors.ConfigError`
that names what it returned against what was expected.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torchvision.models.detection import RetinaNet

from algorithm.device import resolve_device
from algorithm.engine.retinanet import BATCHED_PARTS, BatchedRetinaNet, TileDetections, described, detections_from_dicts
from algorithm.engine.views import MIRRORS, check_views, fuse_detections, stack_views
from algorithm.errors import ConfigError

WRAP_HINT = (
    "wrap a torch module in ProbabilityModel (a map per tile), DetectionModel (boxes per tile) or "
    "ClassifierModel (one probability per tile) from algorithm.engine, or give your own object the three "
    "methods forward, postprocess and to_host (algorithm.engine.TileModel)"
)


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
    or torchvision's list of ``{"boxes": (K, 4), "scores": (K,), "labels": (K,)}``
    tensor dicts, one per tile in the batch's order (a scripted torchvision
    detector, whose ``forward`` takes a list of images, is given the batch as
    one, and its ``(losses, detections)`` pair is taken as its detections);
    anything else -- another count, a missing key, another shape, numpy arrays --
    is a :class:`~algorithm.errors.ConfigError` naming it. The module is put in
    eval mode here, and moved to the run's device by
    :class:`~algorithm.engine.TileRun` (see the module docstring). A torchvision
    ``RetinaNet``, eager or scripted, is run through
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
        module = _evaluating(module, "DetectionModel")
        if batched and (isinstance(module, RetinaNet) or _scripted_retinanet(module)):
            module = BatchedRetinaNet(module)
        self.module = module
        self._listed = _takes_a_list(module)
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

    def to(self, device: torch.device | str) -> DetectionModel:
        """The module moved to ``device`` where any of its parameters or buffers is elsewhere (this adapter)."""
        _move(self.module, device)
        return self

    def _raw(self, tiles: torch.Tensor) -> Any:
        """The module's output for ``tiles``: the kit's RetinaNet's heads, or the module's own detections checked
        against the batch (one dict per tile, each of the expected keys and shapes)."""
        if isinstance(self.module, BatchedRetinaNet):
            return self.module.head_outputs(tiles)
        if self._listed:
            with warnings.catch_warnings():  # a scripted torchvision detector says so on every call
                warnings.filterwarnings("ignore", r".* always returns a \(Losses, Detections\) tuple", UserWarning)
                raw = run_module(self.module, tiles, listed=True)
        else:
            raw = run_module(self.module, tiles)
        if _scripted_pair(raw):  # a scripted torchvision detector returns (losses, detections)
            raw = raw[1]
        if isinstance(raw, TileDetections):
            return _checked_detections(raw, tiles)
        if isinstance(raw, (list, tuple)):
            return detections_from_dicts(raw, tiles=len(tiles))
        raise ConfigError(
            f"the detector returned {described(raw)} for a batch of {tuple(tiles.shape)} tiles; expected a list of "
            f"{len(tiles)} dicts, one per tile, of boxes (K, 4), scores (K,) and labels (K,) tensors, or TileDetections"
        )

    def _decoded(self, raw: Any) -> TileDetections:
        if isinstance(self.module, BatchedRetinaNet):
            return self.module.postprocess(raw)
        if isinstance(raw, TileDetections):
            return raw
        if isinstance(raw, (list, tuple)):  # a module's output given straight to postprocess: checked, uncounted
            return detections_from_dicts(raw)
        raise ConfigError(f"a detection model must return TileDetections or a list of dicts, got {described(raw)}")

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

    The module's maps, one per tile of the ``(N, 3, H, W)`` batch: a tensor ``(N, C, h, w)``
    (or ``(N, h, w)``, one channel) with the tile's aspect ratio (``h / w == H / W``; any
    resolution, area-averaged to ``size``), or a dict holding it under ``"out"`` as
    torchvision's segmentation models (FCN, DeepLabV3, LRASPP) return it. Anything else --
    channels last ``(N, h, w, C)``, another count of maps than tiles, a list, numpy, too few
    channels for ``channel`` -- is a :class:`~algorithm.errors.ConfigError` that names the
    shape returned against the one expected; a map with NaN in it is one too, when it
    reaches the host. The module is put in eval mode here, and moved to the run's device
    by :class:`~algorithm.engine.TileRun` (see the module docstring).

    ``activation``: "sigmoid" or "softmax" (over two or more channels) for logits, None for
    probabilities; ``channel``: which map to keep; ``size``: ``(w, h)`` to area-average the
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
        if not isinstance(channel, (int, np.integer)) or isinstance(channel, bool) or channel < 0:
            raise ConfigError(f"channel must be a whole number from 0, got {channel!r}")
        module = _evaluating(module, type(self).__name__)
        self.module, self.size, self.activation, self.channel = module, size, activation, channel
        self.views = check_views(views)

    def to(self, device: torch.device | str) -> ProbabilityModel:
        """The module moved to ``device`` where any of its parameters or buffers is elsewhere (this adapter)."""
        _move(self.module, device)
        return self

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """The module's maps (logits or probabilities, per its ``activation``), averaged over the views."""
        total: torch.Tensor | None = None
        for dims in MIRRORS[self.views]:
            maps = self._maps(run_module(self.module, tiles.flip(dims) if dims else tiles), tiles)
            if dims:
                maps = maps.flip(dims)
            total = maps if total is None else total + maps
        assert total is not None
        return total if self.views == 1 else total / self.views

    def _maps(self, out: Any, tiles: torch.Tensor) -> torch.Tensor:
        """The module's output for ``tiles`` checked: ``(N, C, h, w)`` or ``(N, h, w)`` maps with the tiles'
        aspect ratio (shapes only: nothing waits for the device)."""
        if isinstance(out, Mapping) and "out" in out:  # torchvision's segmentation models: {"out": maps, "aux": ...}
            out = out["out"]
        n, _, height, width = tiles.shape
        expected = f"expected ({n}, C, h, w) maps (or ({n}, h, w)) with the tiles' aspect ratio, {height}:{width}"
        got = f"the model returned {described(out)} for a batch of {tuple(tiles.shape)} tiles"
        if not isinstance(out, torch.Tensor):
            raise ConfigError(f"{got}; {expected}: return one torch tensor (a dict only with the maps under 'out')")
        shape = tuple(out.shape)
        if out.ndim not in (3, 4) or shape[0] != n or shape[-1] * height != shape[-2] * width or 0 in shape:
            raise ConfigError(f"{got}; {expected}{_channels_last(shape, height, width)}")
        if self.activation is not None and not out.is_floating_point():
            raise ConfigError(f"{got}, of {out.dtype}; {self.activation} expects floating-point logits")
        return out

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        """Probabilities of ``channel``, area-pooled to ``size`` on the device: ``(N, h, w)`` float32."""
        x = raw.float()
        if x.ndim == 3:
            x = x[:, None]
        channels = x.shape[1]
        if self.channel >= channels:
            raise ConfigError(
                f"channel {self.channel} asked for, but the model returned {channels} channel(s) "
                f"(output {tuple(raw.shape)}); channels count from 0"
            )
        if self.activation == "softmax" and channels == 1:
            raise ConfigError(
                f"softmax over the model's one channel (output {tuple(raw.shape)}) is 1 everywhere: use sigmoid for "
                "a single logit"
            )
        if self.activation == "sigmoid":
            x = torch.sigmoid(x)
        elif self.activation == "softmax":
            x = torch.softmax(x, dim=1)
        x = x[:, self.channel : self.channel + 1]
        if self.size is not None and (x.shape[-1], x.shape[-2]) != tuple(self.size):
            x = F.interpolate(x, size=(self.size[1], self.size[0]), mode="area")
        return x[:, 0]

    def to_host(self, output: torch.Tensor) -> NDArray[np.float32]:
        """The pooled maps as float32 numpy; NaN in them is a :class:`~algorithm.errors.ConfigError`."""
        maps = output.cpu().numpy().astype(np.float32, copy=False)
        if maps.size and np.isnan(maps.max()):  # max propagates NaN: one pass over the host copy
            bad = np.flatnonzero(np.isnan(maps.reshape(len(maps), -1)).any(axis=1))
            raise ConfigError(
                f"the model's output holds NaN for {len(bad)} of the batch's {len(maps)} tiles (the first: the "
                f"batch's tile {bad[0]}); maps and probabilities must be numbers everywhere"
            )
        return maps


class ClassifierModel:
    """A per-tile classifier as a tile model: ``module(tiles)`` -> logits ``(N,)`` or ``(N, C)``.

    ``activation`` and ``channel`` as :class:`ProbabilityModel`'s (``(N,)`` logits are one
    channel); ``views``: 1, 2 or 4 mirror images of each tile, their logits averaged
    (test-time augmentation). Host output: ``(N,)`` float32 probabilities, one per tile.
    Another output (a count other than the tiles', a map, a list) is a
    :class:`~algorithm.errors.ConfigError`, NaN too; the module is put in eval mode here,
    and moved to the run's device by :class:`~algorithm.engine.TileRun`.
    """

    def __init__(
        self, module: torch.nn.Module, activation: str | None = "sigmoid", channel: int = 0, views: int = 1
    ) -> None:
        module = _evaluating(module, type(self).__name__)
        # the activation and channel selection of a probability map, on (N, C, 1, 1) "maps"
        self.maps = ProbabilityModel(module, None, activation, channel, views)
        self.module, self.views = self.maps.module, views

    def to(self, device: torch.device | str) -> ClassifierModel:
        """The module moved to ``device`` where any of its parameters or buffers is elsewhere (this adapter)."""
        _move(self.module, device)
        return self

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """The module's logits, averaged over the views, as ``(N, C, 1, 1)``."""
        total: torch.Tensor | None = None
        for dims in MIRRORS[self.views]:
            logits = self._logits(run_module(self.module, tiles.flip(dims) if dims else tiles), tiles)
            total = logits if total is None else total + logits
        assert total is not None
        mean = total if self.views == 1 else total / self.views
        return (mean[:, None] if mean.ndim == 1 else mean)[:, :, None, None]

    def _logits(self, out: Any, tiles: torch.Tensor) -> torch.Tensor:
        """The module's output for ``tiles`` checked: ``(N,)`` or ``(N, C)`` logits (shapes only)."""
        n = len(tiles)
        got = f"the classifier returned {described(out)} for a batch of {tuple(tiles.shape)} tiles"
        if not isinstance(out, torch.Tensor) or out.ndim not in (1, 2) or out.shape[0] != n or 0 in out.shape:
            raise ConfigError(f"{got}; expected logits ({n},) or ({n}, C): one row per tile")
        if self.maps.activation is not None and not out.is_floating_point():
            raise ConfigError(f"{got}, of {out.dtype}; {self.maps.activation} expects floating-point logits")
        return out

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        """One probability of ``channel`` per tile: ``(N,)`` float32."""
        return self.maps.postprocess(raw)[:, 0, 0]

    def to_host(self, output: torch.Tensor) -> NDArray[np.float32]:
        """The probabilities as float32 numpy."""
        return self.maps.to_host(output)


def run_module(module: Any, tiles: torch.Tensor, listed: bool = False) -> Any:
    """``module(tiles)`` (``module(list(tiles))`` when ``listed``). A RuntimeError of the module's own -- a
    participant's network on tiles it cannot take, a TorchScript or exported program fixed to other shapes -- is a
    :class:`~algorithm.errors.ConfigError` naming the batch and the reason; running out of memory is not."""
    try:
        return module(list(tiles)) if listed else module(tiles)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as exc:
        raise ConfigError(
            f"the network failed on a batch of {tuple(tiles.shape)} tiles on {tiles.device}: {error_reason(exc)}"
        ) from exc


def error_reason(exc: BaseException) -> str:
    """The line of a torch error that says why: its first, or for TorchScript's interpreter (whose first line
    only says that an operation failed) its last."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[-1] if "TorchScript interpreter" in lines[0] and len(lines) > 1 else lines[0]
    if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line):  # TorchScript's line names its type already
        return line
    return f"{type(exc).__name__}: {line}"


def engine_device(device: torch.device | str) -> torch.device:
    """``device`` ("cpu", "cuda", "cuda:N", "auto" or a torch.device) as torch's, checked: an unknown name, CUDA
    where torch cannot use it or a GPU index past the last is a :class:`~algorithm.errors.ConfigError`."""
    resolved = resolve_device(str(device))
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(f"device {str(device)!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    return resolved


def not_a_tile_model(model: object) -> str | None:
    """Why ``model`` cannot run in the engine as it is (None: it follows :class:`TileModel`)."""
    if isinstance(model, TileModel):
        return None
    name = type(model).__name__
    if isinstance(model, torch.nn.Module):
        return f"the model is a torch module ({name}), not a tile model: {WRAP_HINT}"
    missing = [step for step in ("forward", "postprocess", "to_host") if not callable(getattr(model, step, None))]
    return f"the model ({name}) is not a tile model: it lacks {', '.join(missing)}; {WRAP_HINT}"


def set_training(module: torch.nn.Module, mode: bool) -> None:
    """``module.train(mode)``, where the module allows it: a torch.export program's module (a participant's
    network) refuses, its mode fixed when it was exported."""
    with contextlib.suppress(NotImplementedError):
        module.train(mode)


def _evaluating(module: Any, adapter: str) -> Any:
    """``module`` in eval mode (a torch module; another callable as it is), or a ConfigError when it cannot be
    called on a batch of tiles."""
    if isinstance(module, torch.nn.Module):
        set_training(module, False)
        return module
    if not callable(module):
        missing = [step for step in ("forward", "postprocess", "to_host") if not callable(getattr(module, step, None))]
        lacks = f" (a tile model would need {', '.join(missing)})" if missing else ""
        raise ConfigError(
            f"{adapter} wraps a torch module (or a function of a batch of tiles), got {type(module).__name__}, "
            f"which cannot be called{lacks}; {WRAP_HINT}"
        )
    return module


def _move(module: Any, device: torch.device | str) -> None:
    """A torch module moved to ``device`` when any of its parameters or buffers lies elsewhere; a module already
    there is left alone (``module.to`` would reassign every parameter)."""
    if not isinstance(module, torch.nn.Module):
        return
    want = torch.device(device)
    index = torch.cuda.current_device() if want.type == "cuda" and want.index is None else want.index
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        have = tensor.device
        if have.type != want.type or (want.type == "cuda" and have.index != index):
            module.to(want)
            return


def _checked_detections(found: TileDetections, tiles: torch.Tensor) -> TileDetections:
    """A module's own TileDetections, their shapes checked (boxes (K, 4); scores, labels and tile (K,))."""
    k = found.scores.shape[0] if found.scores.ndim == 1 else -1
    shapes = {name: tuple(getattr(found, name).shape) for name in ("boxes", "scores", "labels", "tile")}
    if k < 0 or shapes["boxes"] != (k, 4) or shapes["labels"] != (k,) or shapes["tile"] != (k,):
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ConfigError(
            f"the detector returned TileDetections of {listed} for a batch of {tuple(tiles.shape)} tiles; "
            "expected boxes (K, 4) and scores, labels and tile (K,)"
        )
    return found


def _scripted_retinanet(module: Any) -> bool:
    """Whether ``module`` is torchvision's RetinaNet scripted (a participant's program): its parts are there, so it
    runs through :class:`BatchedRetinaNet` too (the same detections; torchvision's own post-processing goes
    tile by tile)."""
    return (
        isinstance(module, torch.jit.RecursiveScriptModule)
        and module.original_name == "RetinaNet"
        and all(hasattr(module, part) for part in BATCHED_PARTS)
    )


def _takes_a_list(module: Any) -> bool:
    """Whether ``module`` is TorchScript whose ``forward`` takes a list of images (a scripted torchvision
    detector): a batch tensor is no list to it."""
    if not isinstance(module, torch.jit.ScriptModule):
        return False
    try:
        arguments = module.forward.schema.arguments  # type: ignore[attr-defined]  # a ScriptMethod's
    except (AttributeError, RuntimeError):
        return False
    return len(arguments) > 1 and str(arguments[1].type) == "List[Tensor]"


def _scripted_pair(raw: Any) -> bool:
    """Whether ``raw`` is a scripted torchvision detector's ``(losses, detections)``: a dict, then a list."""
    return isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], Mapping) and isinstance(raw[1], list)


def _channels_last(shape: tuple[int, ...], height: int, width: int) -> str:
    """A hint when ``shape`` reads as channels-last maps of the tiles' aspect ratio."""
    if len(shape) == 4 and shape[-1] <= 4 and shape[2] * height == shape[1] * width:
        return f": {shape} looks channels-last (N, h, w, C); return maps.permute(0, 3, 1, 2)"
    return ""
