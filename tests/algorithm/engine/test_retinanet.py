"""BatchedRetinaNet gives torchvision's RetinaNet detections, tile by tile, post-processed for the batch at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.detection import RetinaNet, retinanet_resnet50_fpn_v2

from algorithm.engine.retinanet import (
    BatchedRetinaNet,
    HeadOutputs,
    TileDetections,
    detections_from_dicts,
    torchvision_detections,
)
from algorithm.errors import ConfigError
from algorithm.models import DetectorConfig, build_detector, load_detector

REPO = Path(__file__).resolve().parents[3]
BUNDLED = REPO / "models" / "detector.pt"

torch.set_num_threads(2)


# -- helpers ------------------------------------------------------------------------------------


def _tiles(shared_data: Path, count: int, size: int = 256) -> torch.Tensor:
    """``count`` non-overlapping tiles of the real H&E image, (count, 3, size, size) in [0, 1]."""
    image = np.asarray(Image.open(shared_data / "he" / "tiatoolbox-target.png").convert("RGB"))
    per_row = image.shape[1] // size
    assert count <= per_row * (image.shape[0] // size)
    tiles = [
        image[(i // per_row) * size : (i // per_row + 1) * size, (i % per_row) * size : (i % per_row + 1) * size]
        for i in range(count)
    ]
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).float().div(255).contiguous()


def _sorted(det: TileDetections, tile: int) -> dict[str, np.ndarray]:
    """One tile's detections sorted by (score desc, x1, y1)."""
    d = {k: v[det.tile.numpy() == tile] for k, v in det.numpy().items()}
    order = np.lexsort((d["boxes"][:, 1], d["boxes"][:, 0], -d["scores"]))
    return {k: v[order] for k, v in d.items()}


def _assert_same(ours: TileDetections, reference: TileDetections, tiles: int) -> None:
    assert ours.boxes.dtype == torch.float32 and ours.scores.dtype == torch.float32
    assert ours.labels.dtype == torch.int64 and ours.tile.dtype == torch.int64
    assert ours.boxes.shape == (len(ours), 4) and ours.tile.shape == ours.labels.shape == ours.scores.shape
    for t in range(tiles):
        a, b = _sorted(ours, t), _sorted(reference, t)
        assert len(a["scores"]) == len(b["scores"]), f"tile {t}: {len(a['scores'])} vs {len(b['scores'])} detections"
        np.testing.assert_allclose(a["scores"], b["scores"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(a["boxes"], b["boxes"], rtol=0, atol=1e-3)
        np.testing.assert_array_equal(a["labels"], b["labels"])
    assert len(ours) == len(reference)


def _compare(model: RetinaNet, images: torch.Tensor, score_thresh: float | None = None) -> TileDetections:
    """Both paths under inference_mode; returns ours after checking it against torchvision's."""
    if score_thresh is not None:
        model.score_thresh = score_thresh
    batched = BatchedRetinaNet(model).eval()
    with torch.inference_mode():
        reference = torchvision_detections(model, images)
        ours = batched(images)
    _assert_same(ours, reference, images.shape[0])
    return ours


def _random_detector(seed: int = 0, **config) -> RetinaNet:
    torch.manual_seed(seed)
    return build_detector(DetectorConfig(**{"tile_size": 256, **config})).eval()


@pytest.fixture(scope="module")
def bundled() -> RetinaNet:
    if not BUNDLED.is_file():
        pytest.skip(f"bundled detector missing: {BUNDLED}")
    model, config, _ = load_detector(BUNDLED)
    assert config.tile_size == 256
    return model


@pytest.fixture(scope="module")
def he_tiles(shared_data: Path) -> torch.Tensor:
    return _tiles(shared_data, 8)


# -- the bundled detector on real tiles ---------------------------------------------------------


def test_bundled_detector_matches_torchvision(bundled: RetinaNet, he_tiles: torch.Tensor) -> None:
    bundled.score_thresh = 0.05
    ours = _compare(bundled, he_tiles[:4])
    assert len(ours) > 0  # real cells score over the threshold
    assert set(ours.tile.tolist()) <= {0, 1, 2, 3}
    assert float(ours.boxes.min()) >= 0 and float(ours.boxes.max()) <= 256


@pytest.mark.parametrize("batch", [1, 8])
def test_bundled_detector_batch_sizes(bundled: RetinaNet, he_tiles: torch.Tensor, batch: int) -> None:
    ours = _compare(bundled, he_tiles[:batch], score_thresh=0.01)
    assert len(ours) > 0
    bundled.score_thresh = 0.05


def test_score_thresh_argument_overrides_the_model(bundled: RetinaNet, he_tiles: torch.Tensor) -> None:
    bundled.score_thresh = 0.05
    with torch.inference_mode():
        low = BatchedRetinaNet(bundled, score_thresh=0.01)(he_tiles[:2])
        bundled.score_thresh = 0.01
        reference = torchvision_detections(bundled, he_tiles[:2])
    bundled.score_thresh = 0.05
    _assert_same(low, reference, 2)
    assert BatchedRetinaNet(bundled).score_thresh == 0.05


# -- many detections: top-k, NMS and the per-tile cap -------------------------------------------


def test_random_detector_many_detections(he_tiles: torch.Tensor) -> None:
    model = _random_detector(seed=1)
    ours = _compare(model, he_tiles, score_thresh=0.005)
    per_tile = torch.bincount(ours.tile, minlength=8)
    assert int(per_tile.max()) == model.detections_per_img == 300  # the cap bites
    assert len(ours) > 1000
    # tile-major, each tile by decreasing score
    assert torch.all(ours.tile[1:] >= ours.tile[:-1])
    same_tile = ours.tile[1:] == ours.tile[:-1]
    assert torch.all(ours.scores[1:][same_tile] <= ours.scores[:-1][same_tile])


def test_random_detector_tight_topk_and_cap() -> None:
    model = _random_detector(seed=2)
    model.topk_candidates, model.detections_per_img, model.nms_thresh = 50, 40, 0.3
    torch.manual_seed(3)
    ours = _compare(model, torch.rand(3, 3, 256, 256), score_thresh=0.005)
    assert torch.bincount(ours.tile, minlength=3).tolist() == [40, 40, 40]


def test_empty_result(bundled: RetinaNet, he_tiles: torch.Tensor) -> None:
    with torch.inference_mode():
        ours = BatchedRetinaNet(bundled, score_thresh=0.999)(he_tiles[:2])
    assert ours.boxes.shape == (0, 4) and ours.scores.shape == (0,)
    assert ours.labels.shape == (0,) and ours.tile.shape == (0,)
    assert ours.boxes.dtype == torch.float32 and ours.labels.dtype == ours.tile.dtype == torch.int64
    assert len(ours) == 0 and ours.numpy()["boxes"].shape == (0, 4)


# -- sizes: padding to size_divisible, and torchvision's resize ---------------------------------


def test_padding_when_tile_not_divisible(he_tiles: torch.Tensor) -> None:
    model = _random_detector(seed=4, tile_size=240)  # padded to 256 inside, boxes clipped to 240
    ours = _compare(model, he_tiles[:2, :, :240, :240].contiguous(), score_thresh=0.005)
    assert float(ours.boxes.max()) <= 240


def test_resize_like_torchvision(he_tiles: torch.Tensor) -> None:
    # 200 px tiles into the 256 px model: torchvision upsamples, then scales the boxes back
    model = _random_detector(seed=5)
    ours = _compare(model, he_tiles[:2, :, :200, :200].contiguous(), score_thresh=0.005)
    assert float(ours.boxes.max()) <= 200 + 1e-3


# -- torchvision's own resnet50 v2 ------------------------------------------------------------


def test_torchvision_resnet50_fpn_v2(he_tiles: torch.Tensor) -> None:
    torch.manual_seed(6)
    model = retinanet_resnet50_fpn_v2(
        weights=None, weights_backbone=None, num_classes=3, min_size=256, max_size=256
    ).eval()
    ours = _compare(model, he_tiles[:2], score_thresh=0.005)
    assert len(ours) > 0


# -- modes and caching ------------------------------------------------------------------------


def test_anchors_cached_and_reusable_outside_inference_mode(bundled: RetinaNet, he_tiles: torch.Tensor) -> None:
    batched = BatchedRetinaNet(bundled, score_thresh=0.01)
    with torch.inference_mode():
        first = batched(he_tiles[:2])
    with torch.no_grad():
        second = batched(he_tiles[:2])
    assert len(batched._anchors) == 1
    anchors = next(iter(batched._anchors.values()))
    assert not anchors.is_inference() and anchors.dtype == torch.float32
    _assert_same(second, first, 2)


def test_autocast_outputs_float32(bundled: RetinaNet, he_tiles: torch.Tensor) -> None:
    batched = BatchedRetinaNet(bundled, score_thresh=0.01)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ours = batched(he_tiles[:2])
    with torch.inference_mode():
        reference = batched(he_tiles[:2])
    assert ours.boxes.dtype == ours.scores.dtype == torch.float32
    assert len(ours) > 0
    # bfloat16 features: close to float32, not equal
    assert abs(len(ours) - len(reference)) <= max(3, len(reference) // 5)
    assert abs(float(ours.scores.max()) - float(reference.scores.max())) < 0.05


def test_head_outputs_then_postprocess_is_forward(bundled: RetinaNet, he_tiles: torch.Tensor) -> None:
    batched = BatchedRetinaNet(bundled, score_thresh=0.01)
    with torch.inference_mode():
        raw = batched.head_outputs(he_tiles[:2])
        split = batched.postprocess(raw)
        whole = batched(he_tiles[:2])
    assert isinstance(raw, HeadOutputs) and raw.cls_logits.shape[:2] == raw.bbox_regression.shape[:2]
    assert raw.padded_size == raw.image_size == raw.original_size == (256, 256)
    assert raw.grid_sizes == ((32, 32), (16, 16), (8, 8), (4, 4))
    _assert_same(split, whole, 2)


def test_rejects_bad_input(bundled: RetinaNet) -> None:
    batched = BatchedRetinaNet(bundled)
    with pytest.raises(ValueError):
        batched(torch.rand(3, 256, 256))
    with pytest.raises(TypeError):
        batched(torch.zeros(1, 3, 256, 256, dtype=torch.uint8))
    with pytest.raises(TypeError):
        BatchedRetinaNet(torch.nn.Linear(2, 2))


# -- the adapter for torchvision-style detectors ------------------------------------------------


def test_torchvision_detections_adapter() -> None:
    def detector(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out = []
        for i, _ in enumerate(images):
            k = i + 1 if i != 1 else 0  # tile 1 finds nothing
            out.append(
                {
                    "boxes": torch.full((k, 4), float(i)),
                    "scores": torch.full((k,), 0.5, dtype=torch.float16),
                    "labels": torch.ones(k, dtype=torch.int32),
                }
            )
        return out

    det = torchvision_detections(detector, torch.rand(3, 3, 8, 8))
    assert det.tile.tolist() == [0, 2, 2, 2]
    assert det.boxes[:, 0].tolist() == [0.0, 2.0, 2.0, 2.0]
    assert det.scores.dtype == torch.float32 and det.labels.dtype == torch.int64
    assert len(det.select(2)) == 3 and len(det.select(1)) == 0
    assert len(torchvision_detections(detector, [])) == 0
    from_dicts = detections_from_dicts(detector([torch.zeros(1)] * 3))
    assert from_dicts.tile.tolist() == det.tile.tolist() and torch.equal(from_dicts.boxes, det.boxes)
    assert detections_from_dicts([]).boxes.shape == (0, 4)


def test_chunked_nms_in_the_batch_gives_torchvision_detections(
    he_tiles: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the GPU's NMS path (chunks of whole groups, grouped_nms.py) on the CPU, small chunks: still torchvision's
    import functools

    from algorithm.engine import grouped_nms, retinanet

    monkeypatch.setattr(retinanet, "grouped_nms", functools.partial(grouped_nms.grouped_nms, chunk=300))
    model = _random_detector(seed=1)
    ours = _compare(model, he_tiles, score_thresh=0.005)
    assert len(ours) > 1000


def _found(k: int = 1) -> dict[str, Any]:
    return {"boxes": torch.zeros(k, 4), "scores": torch.ones(k), "labels": torch.ones(k, dtype=torch.int64)}


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([_found()], r"^the detector returned 1 result for a batch of 3 tiles; expected one dict per tile"),
        ([_found()] * 4, r"^the detector returned 4 results for a batch of 3 tiles"),
        ([_found(), {"boxes": torch.zeros(1, 4), "scores": torch.ones(1)}, _found()], r"^tile 1's dict lacks 'labels'"),
        ([_found(), _found(), {}], r"^tile 2's dict lacks 'boxes' and 'scores' and 'labels' \(it has no keys;"),
        (
            [{"boxes": torch.zeros(4), "scores": torch.tensor(0.9), "labels": torch.tensor(1)}] * 3,
            r"^tile 0's dict holds boxes \(4,\), scores \(\), labels \(\); each tile's dict needs boxes \(K, 4\)",
        ),
        ([{**_found(2), "scores": torch.ones(2, 1)}] * 3, r"^tile 0's dict holds boxes \(2, 4\), scores \(2, 1\)"),
        ([{**_found(2), "labels": torch.ones(3)}] * 3, r"labels \(3,\); each tile's dict needs"),
        ([{**_found(), "boxes": np.zeros((1, 4), np.float32)}] * 3, r"^tile 0's boxes is a numpy array \(1, 4\), not"),
        ([_found(), [torch.zeros(1, 4)], _found()], r"^the detector's result for tile 1 is a list of 1, not a dict"),
        (
            [{**_found(), "labels": torch.ones(1, device="meta")}] * 3,
            r"^tile 0's dict holds boxes on cpu, .*labels on meta",
        ),
    ],
)
def test_detections_from_dicts_refuses_what_does_not_match_the_batch(outputs: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        detections_from_dicts(outputs, tiles=3)


def test_detections_from_dicts_takes_empty_tiles_and_any_real_dtype() -> None:
    outputs = [
        {"boxes": torch.zeros(0), "scores": torch.zeros(0), "labels": torch.zeros(0)},  # nothing: boxes (0,) taken
        {"boxes": torch.ones(2, 4, dtype=torch.float16), "scores": torch.ones(2), "labels": torch.ones(2)},
    ]
    found = detections_from_dicts(outputs, tiles=2)
    assert found.tile.tolist() == [1, 1] and found.boxes.shape == (2, 4) and found.labels.dtype == torch.int64
    with pytest.raises(ConfigError, match=r"^the detector returned 2 results for a batch of 3 tiles"):
        torchvision_detections(lambda images: outputs, torch.zeros(3, 3, 8, 8))
