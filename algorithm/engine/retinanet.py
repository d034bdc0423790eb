"""A torchvision RetinaNet run on a batch of tiles, post-processed for the whole batch at once.

Why: torchvision's eval path (``RetinaNet.forward``) normalises and resizes the images one
at a time (``GeneralizedRCNNTransform``), rebuilds the anchors on every call, and then
post-processes one image at a time in ``RetinaNet.postprocess_detections``: per image and
per pyramid level a threshold, a ``topk``, a box decode and a clip, then one NMS per image.
Each of those is a handful of small kernels and host syncs, so on a GPU that Python loop
took ~97% of the detector's time; the backbone and head were the small part.

``BatchedRetinaNet`` keeps the model's own modules (backbone, head, anchor generator, box
coder) and settings, and reproduces torchvision's semantics exactly, but for the batch:

* normalise with ``transform.image_mean/std``, resize only where torchvision would (the
  same ``interpolate`` call, batched), zero-pad to ``transform.size_divisible``;
* anchors from ``model.anchor_generator``, built once per (padded size, grids, device) and
  cached: they are the same for every tile;
* per level: sigmoid scores over (anchors x classes), one ``topk`` over the (N, L) tensor,
  then drop the scores <= ``score_thresh`` (the top-k of the scores over the threshold is
  the top-k of all scores with those under it dropped); decode and clip all tiles' boxes
  in one call;
* NMS for the batch grouped by ``tile * num_classes + label`` (``grouped_nms.py``:
  torchvision's ``batched_nms`` on the CPU, elsewhere a few NMS calls over chunks of whole
  groups, where ``batched_nms`` would loop over the groups), and the per-tile cap of
  ``detections_per_img`` from a stable sort by tile (NMS returns the boxes by decreasing
  score) -- no Python loop over images.

``forward`` is ``postprocess(head_outputs(images))``; the two halves are public so a
caller can time them apart or overlap one batch's post-processing with the next's network.

Like torchvision, class 0 (the background slot of ``num_classes``) is scored and can be
returned; callers filter labels as they would torchvision's output.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import RetinaNet
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import boxes as box_ops

from algorithm.engine.grouped_nms import grouped_nms
from algorithm.errors import ConfigError

__all__ = ["TileDetections", "HeadOutputs", "BatchedRetinaNet", "detections_from_dicts", "torchvision_detections"]


@dataclass
class TileDetections:
    """Detections of a batch of tiles, in tile pixels (x1, y1, x2, y2)."""

    boxes: torch.Tensor  # (K, 4) float32
    scores: torch.Tensor  # (K,) float32
    labels: torch.Tensor  # (K,) int64
    tile: torch.Tensor  # (K,) int64: index of the tile in the batch

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> TileDetections:
        """No detections (a batch where nothing passes the score threshold)."""
        return cls(
            boxes=torch.zeros((0, 4), dtype=torch.float32, device=device),
            scores=torch.zeros((0,), dtype=torch.float32, device=device),
            labels=torch.zeros((0,), dtype=torch.int64, device=device),
            tile=torch.zeros((0,), dtype=torch.int64, device=device),
        )

    @classmethod
    def concat(cls, parts: Sequence[TileDetections]) -> TileDetections:
        """All parts' detections in one, in the parts' order (tile indices as each part has them)."""
        return cls(
            boxes=torch.cat([p.boxes for p in parts]),
            scores=torch.cat([p.scores for p in parts]),
            labels=torch.cat([p.labels for p in parts]),
            tile=torch.cat([p.tile for p in parts]),
        )

    def to(self, device: torch.device | str) -> TileDetections:
        """The same detections on ``device``."""
        return TileDetections(
            self.boxes.to(device), self.scores.to(device), self.labels.to(device), self.tile.to(device)
        )

    def cpu(self) -> TileDetections:
        """The same detections on the host."""
        return self.to("cpu")

    def numpy(self) -> dict[str, np.ndarray]:
        """The four fields as NumPy arrays (copied to the CPU)."""
        return {name: getattr(self, name).detach().cpu().numpy() for name in ("boxes", "scores", "labels", "tile")}

    def select(self, tile: int) -> TileDetections:
        """The detections of one tile (tile index kept)."""
        keep = self.tile == tile
        return TileDetections(self.boxes[keep], self.scores[keep], self.labels[keep], self.tile[keep])


@dataclass
class HeadOutputs:
    """The network's raw output for a batch, and the sizes :meth:`BatchedRetinaNet.postprocess` needs."""

    cls_logits: torch.Tensor  # (N, A, C), A = anchors of all levels
    bbox_regression: torch.Tensor  # (N, A, 4)
    grid_sizes: tuple[tuple[int, int], ...]  # (h, w) of each pyramid level
    padded_size: tuple[int, int]  # (H, W) the backbone saw
    image_size: tuple[int, int]  # (H, W) after resizing, before padding: boxes are clipped to it
    original_size: tuple[int, int]  # (H, W) of the input tiles: boxes are returned in these pixels


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1], got {images.dtype}")


# what BatchedRetinaNet uses of a RetinaNet (a scripted one has them too; its box coder, fixed by torchvision,
# cannot be read back from a saved TorchScript file, so a loaded one gets torchvision's own again)
BATCHED_PARTS = (
    "transform",
    "backbone",
    "head",
    "anchor_generator",
    "score_thresh",
    "nms_thresh",
    "detections_per_img",
    "topk_candidates",
)


class BatchedRetinaNet(nn.Module):
    """A torchvision RetinaNet run on a batch of same-size tiles, post-processed for the whole batch at once.

    Same output as ``model(list(images))`` in eval mode (see the module docstring), as one
    :class:`TileDetections`. ``score_thresh`` overrides ``model.score_thresh``; the other
    settings (``topk_candidates``, ``nms_thresh``, ``detections_per_img``, the transform's
    sizes) are read from the model on every call. Put the model in ``eval()`` mode.
    """

    def __init__(self, model: RetinaNet, score_thresh: float | None = None) -> None:
        super().__init__()
        for name in BATCHED_PARTS:
            if not hasattr(model, name):
                raise TypeError(f"expected a torchvision RetinaNet, {type(model).__name__} has no {name!r}")
        self.model = model
        try:
            self.box_coder = model.box_coder
        except (AttributeError, RuntimeError):  # a RetinaNet loaded from TorchScript: its class is not Python's
            self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))  # what torchvision's RetinaNet builds
        self.score_thresh = float(model.score_thresh if score_thresh is None else score_thresh)
        self._anchors: dict[tuple[Any, ...], torch.Tensor] = {}

    # -- input: GeneralizedRCNNTransform, batched ------------------------------------------

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        """Resize as ``GeneralizedRCNNTransform.resize`` in eval mode, skipped where it is the identity."""
        transform = self.model.transform
        h, w = images.shape[-2:]
        fixed_size = transform.fixed_size
        if fixed_size is not None:
            size, scale, recompute = [fixed_size[1], fixed_size[0]], None, None
        else:
            min_size = transform.min_size[-1] if isinstance(transform.min_size, (list, tuple)) else transform.min_size
            scale = min(float(min_size) / min(h, w), float(transform.max_size) / max(h, w))
            if scale == 1.0:  # bilinear at scale 1 copies the pixels: nothing to do
                return images
            size, recompute = None, True
        return F.interpolate(
            images,
            size=size,
            scale_factor=scale,
            mode="bilinear",
            recompute_scale_factor=recompute,
            align_corners=False,
        )

    def _prepare(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Normalised, resized and zero-padded batch, and the (unpadded) size the boxes are clipped to."""
        transform = self.model.transform
        mean = torch.as_tensor(transform.image_mean, dtype=images.dtype, device=images.device)
        std = torch.as_tensor(transform.image_std, dtype=images.dtype, device=images.device)
        x = self._resize((images - mean[:, None, None]) / std[:, None, None])
        h, w = int(x.shape[-2]), int(x.shape[-1])
        stride = float(transform.size_divisible)
        pad_h = int(math.ceil(h / stride) * stride) - h
        pad_w = int(math.ceil(w / stride) * stride) - w
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))  # zeros after normalisation, as batch_images does
        return x, (h, w)

    # -- anchors: the same for every tile, built once ----------------------------------------

    def anchors(
        self, padded_size: tuple[int, int], grid_sizes: Sequence[tuple[int, int]], device: torch.device
    ) -> torch.Tensor:
        """(A, 4) float32 anchors of one tile, all levels concatenated, from the model's generator (cached)."""
        key = (tuple(padded_size), tuple(tuple(g) for g in grid_sizes), str(device))
        cached = self._anchors.get(key)
        if cached is None:
            # ordinary tensors (not inference tensors), so they can be reused outside inference_mode;
            # float32 even under autocast, where torchvision would build them in the features' dtype
            with torch.inference_mode(False), torch.no_grad():
                image_list = ImageList(torch.empty((0, 0, *padded_size), device=device), [tuple(padded_size)])
                maps = [torch.empty((0, 0, gh, gw), dtype=torch.float32, device=device) for gh, gw in grid_sizes]
                cached = self.model.anchor_generator(image_list, maps)[0].float()
            self._anchors[key] = cached
        return cached

    # -- forward: the network, then the post-processing (separable, so a caller can time or overlap them)

    def head_outputs(self, images: torch.Tensor) -> HeadOutputs:
        """Normalise/resize/pad, backbone and head: the network part of :meth:`forward`."""
        _check_images(images)
        model = self.model
        x, image_size = self._prepare(images)
        features = model.backbone(x)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        feature_list = list(features.values())
        head = model.head(feature_list)
        return HeadOutputs(
            cls_logits=head["cls_logits"],
            bbox_regression=head["bbox_regression"],
            grid_sizes=tuple((int(f.shape[-2]), int(f.shape[-1])) for f in feature_list),
            padded_size=(int(x.shape[-2]), int(x.shape[-1])),
            image_size=image_size,
            original_size=(int(images.shape[-2]), int(images.shape[-1])),
        )

    def postprocess(self, raw: HeadOutputs) -> TileDetections:
        """torchvision's ``postprocess_detections`` + ``transform.postprocess``, for the whole batch at once."""
        model = self.model
        logits = raw.cls_logits.float()  # (N, A, C); float32 under autocast
        regression = raw.bbox_regression.float()  # (N, A, 4)
        n, num_classes = logits.shape[0], logits.shape[-1]
        anchors = self.anchors(raw.padded_size, raw.grid_sizes, logits.device)
        per_location = logits.shape[1] // sum(gh * gw for gh, gw in raw.grid_sizes)

        # per level: top-k of the flattened (anchor, class) scores of each tile
        top_scores, top_index = [], []
        offset = 0
        for gh, gw in raw.grid_sizes:
            count = gh * gw * per_location
            scores = torch.sigmoid(logits[:, offset : offset + count]).flatten(1)  # (N, count * C)
            values, index = scores.topk(min(int(model.topk_candidates), scores.shape[1]), dim=1)
            top_scores.append(values)
            top_index.append(index + offset * num_classes)  # index into the (A * C) scores of the tile
            offset += count
        scores = torch.cat(top_scores, dim=1)  # (N, K), levels in torchvision's order
        flat = torch.cat(top_index, dim=1)

        # the candidates over the threshold, all tiles at once (one host sync)
        tile, position = torch.nonzero(scores > self.score_thresh, as_tuple=True)
        if tile.numel() == 0:
            return TileDetections.empty(logits.device)
        scores = scores[tile, position]
        flat = flat[tile, position]
        anchor_index = torch.div(flat, num_classes, rounding_mode="floor")
        labels = flat % num_classes
        boxes = self.box_coder.decode_single(regression[tile, anchor_index], anchors[anchor_index])
        boxes = box_ops.clip_boxes_to_image(boxes, raw.image_size)

        # class-wise NMS per tile in one call; keep is sorted by decreasing score
        keep = grouped_nms(boxes, scores, tile * num_classes + labels, float(model.nms_thresh))
        # group by tile keeping the score order, then cap each tile at detections_per_img
        kept_tile, order = torch.sort(tile[keep], stable=True)
        keep = keep[order]
        counts = torch.bincount(kept_tile, minlength=n)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(kept_tile.numel(), device=kept_tile.device) - starts[kept_tile]
        keep = keep[rank < int(model.detections_per_img)]

        boxes = boxes[keep]
        if raw.image_size != raw.original_size:  # back to the input tiles' pixels, as transform.postprocess
            (h, w), (oh, ow) = raw.image_size, raw.original_size
            ratio = [
                torch.tensor(o, dtype=torch.float32, device=boxes.device)
                / torch.tensor(s, dtype=torch.float32, device=boxes.device)
                for o, s in ((ow, w), (oh, h))
            ]
            boxes = boxes * torch.stack((ratio[0], ratio[1], ratio[0], ratio[1]))
        return TileDetections(boxes=boxes, scores=scores[keep], labels=labels[keep], tile=tile[keep])

    def forward(self, images: torch.Tensor) -> TileDetections:
        """Detections of ``images`` (N, 3, H, W) float in [0, 1] on any device, in tile pixels."""
        return self.postprocess(self.head_outputs(images))


DICT_NEEDS = "each tile's dict needs boxes (K, 4), scores (K,) and labels (K,) torch tensors"


def detections_from_dicts(outputs: Sequence[dict[str, torch.Tensor]], tiles: int | None = None) -> TileDetections:
    """torchvision's list of ``{"boxes", "scores", "labels"}`` dicts, one per tile, as one :class:`TileDetections`.

    ``tiles``: the batch's tile count, which the dicts' must equal. Another count, a result that is
    not such a dict, a missing key, an array that is not a torch tensor (numpy) or another shape is a
    :class:`~algorithm.errors.ConfigError` naming the tile and what it holds (shapes and types only:
    nothing waits for the device)."""
    if tiles is not None and len(outputs) != tiles:
        results = "result" if len(outputs) == 1 else "results"
        raise ConfigError(
            f"the detector returned {len(outputs)} {results} for a batch of {tiles} tiles; expected one dict per "
            f"tile, in the batch's order ({DICT_NEEDS})"
        )
    if not outputs:
        return TileDetections.empty()
    _check_dicts(outputs)
    device = outputs[0]["scores"].device
    counts = torch.tensor([int(o["scores"].shape[0]) for o in outputs], device=device)
    return TileDetections(
        boxes=torch.cat([o["boxes"].reshape(-1, 4) for o in outputs]).float(),
        scores=torch.cat([o["scores"] for o in outputs]).float(),
        labels=torch.cat([o["labels"] for o in outputs]).long(),
        tile=torch.repeat_interleave(torch.arange(len(outputs), device=device), counts),
    )


def _check_dicts(outputs: Sequence[Any]) -> None:
    """Each tile's result a dict of boxes (K, 4), scores (K,) and labels (K,) tensors on the first one's device."""
    device = None
    for i, found in enumerate(outputs):
        if not isinstance(found, Mapping):
            raise ConfigError(f"the detector's result for tile {i} is {described(found)}, not a dict ({DICT_NEEDS})")
        missing = [key for key in ("boxes", "scores", "labels") if key not in found]
        if missing:
            keys = ", ".join(map(repr, found))
            lacks = " and ".join(map(repr, missing))
            raise ConfigError(f"tile {i}'s dict lacks {lacks} (it has {keys or 'no keys'}; {DICT_NEEDS})")
        values = {key: found[key] for key in ("boxes", "scores", "labels")}
        for key, value in values.items():
            if not isinstance(value, torch.Tensor):
                raise ConfigError(f"tile {i}'s {key} is {described(value)}, not a torch tensor ({DICT_NEEDS})")
        boxes, scores, labels = values["boxes"], values["scores"], values["labels"]
        k = scores.shape[0] if scores.ndim == 1 else -1
        empty = k == 0 and boxes.numel() == 0  # no detections: boxes of shape (0,) are taken too
        if k < 0 or tuple(labels.shape) != (k,) or not (tuple(boxes.shape) == (k, 4) or empty):
            raise ConfigError(
                f"tile {i}'s dict holds boxes {tuple(boxes.shape)}, scores {tuple(scores.shape)}, labels "
                f"{tuple(labels.shape)}; {DICT_NEEDS}"
            )
        device = boxes.device if device is None else device
        if any(value.device != device for value in values.values()):
            places = ", ".join(f"{key} on {value.device}" for key, value in values.items())
            raise ConfigError(f"tile {i}'s dict holds {places}; every tile's tensors must be on {device}")


def described(value: Any) -> str:
    """What a model returned, for a message: a tensor's or array's shape, a container's length or keys."""
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, np.ndarray):
        return f"a numpy array {value.shape}"
    if isinstance(value, Mapping):
        return f"a {type(value).__name__} of keys {', '.join(map(repr, value)) or '(none)'}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def torchvision_detections(
    model: Callable[[list[torch.Tensor]], list[dict[str, torch.Tensor]]], images: torch.Tensor | Sequence[torch.Tensor]
) -> TileDetections:
    """``model(list(images))`` -- any torchvision-style detector returning one dict with
    ``boxes``/``scores``/``labels`` per image -- as one :class:`TileDetections`.

    The reference for :class:`BatchedRetinaNet`, and the adapter for detectors it cannot batch.
    """
    images = list(images)
    return detections_from_dicts(model(images), tiles=len(images))
