"""algorithm/engine/views.py: a detector's calls over a tile's mirror images, fused in one batch.

The oracle is the plain algorithm, one tile and one detection at a time (``_reference``); the kit's
batched fusion must give what it gives, on made-up calls and on the bundled detector over real H&E.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from algorithm.engine import DetectionModel
from algorithm.engine import views as views_module
from algorithm.engine.retinanet import TileDetections
from algorithm.errors import ConfigError
from algorithm.models import load_detector

REPO = Path(__file__).resolve().parents[3]
FLIPS = {1: [(False, False)], 2: [(False, False), (True, False)]}
FLIPS[4] = [*FLIPS[2], (False, True), (True, True)]

Calls = list[dict[str, torch.Tensor]]


def _reference(detector: torch.nn.Module, tiles: torch.Tensor, views: int, radius: float, floor: float) -> Calls:
    """Per tile: each view detected alone, its boxes mapped back; greedy by score (stable in view order), a
    seed takes every free call of its label within ``radius``; the mean of each view's best box, scored by
    the sum of those scores over ``views``; fused calls under ``floor`` dropped."""
    height, width = tiles.shape[-2:]
    seen = []
    for left_right, upside_down in FLIPS[views]:
        dims = [d for d, flip in ((-1, left_right), (-2, upside_down)) if flip]
        view = []
        for found in detector(tiles.flip(dims) if dims else tiles):
            boxes = found["boxes"].clone().float()
            if left_right:
                boxes[:, [0, 2]] = width - found["boxes"][:, [2, 0]].float()
            if upside_down:
                boxes[:, [1, 3]] = height - boxes[:, [3, 1]]
            view.append({"boxes": boxes, "scores": found["scores"].float(), "labels": found["labels"]})
        seen.append(view)
    out = []
    for i in range(len(tiles)):
        calls = [view[i] for view in seen]
        boxes = torch.cat([c["boxes"] for c in calls])
        scores = torch.cat([c["scores"] for c in calls])
        labels = torch.cat([c["labels"] for c in calls])
        view_of = torch.cat([torch.full((len(c["scores"]),), k) for k, c in enumerate(calls)])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        free = torch.ones(len(scores), dtype=torch.bool)
        fused: Calls = []
        for seed in scores.argsort(descending=True, stable=True).tolist():
            if not free[seed]:
                continue
            group = free & (labels == labels[seed]) & ((centres - centres[seed]).norm(dim=1) <= radius)
            best = []
            for k in range(views):
                members = torch.nonzero(group & (view_of == k)).flatten()
                if len(members):
                    best.append(members[scores[members].argmax()])
            free &= ~group
            chosen = torch.stack(best)
            score = scores[chosen].sum() / views
            if score >= floor:
                fused.append({"box": boxes[chosen].mean(dim=0), "score": score, "label": labels[seed]})
        out.append(
            {
                "boxes": torch.stack([f["box"] for f in fused]) if fused else torch.zeros((0, 4)),
                "scores": torch.stack([f["score"] for f in fused]) if fused else torch.zeros(0),
                "labels": torch.stack([f["label"] for f in fused]) if fused else torch.zeros(0, dtype=torch.int64),
            }
        )
    return out


def _run(model: DetectionModel, tiles: torch.Tensor) -> TileDetections:
    with torch.inference_mode():
        return model.postprocess(model.forward(tiles))


def _assert_same(got: TileDetections, expected: Calls) -> None:
    for i, want in enumerate(expected):
        mine = got.select(i)
        assert mine.labels.tolist() == want["labels"].tolist(), f"tile {i}"
        torch.testing.assert_close(mine.scores, want["scores"], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(mine.boxes, want["boxes"], atol=1e-4, rtol=1e-6)
    assert set(got.tile.tolist()) <= set(range(len(expected)))


class Scattered(torch.nn.Module):
    """Many calls per tile, seeded by the tile's pixels: clusters of near calls of two labels, tied scores."""

    def forward(self, tiles: torch.Tensor) -> Calls:
        """About 30 calls per tile, some in clusters closer than the fusion radius."""
        found = []
        for tile in tiles:
            rng = np.random.default_rng(int(tile.sum() * 1000) % (2**31))
            centres = rng.uniform(8, 56, size=(6, 2))  # six places, each called a few times nearby
            points = np.repeat(centres, 5, axis=0) + rng.normal(0, 4, size=(30, 2))
            scores = np.round(rng.uniform(0.05, 1.0, size=30), 1)  # tenths: many ties
            labels = rng.integers(1, 3, size=30)
            boxes = np.concatenate([points - 4, points + 4], axis=1)
            found.append(
                {
                    "boxes": torch.tensor(boxes, dtype=torch.float32),
                    "scores": torch.tensor(scores, dtype=torch.float32),
                    "labels": torch.tensor(labels),
                }
            )
        return found


class DarkestPixel(torch.nn.Module):
    """One box on each tile's darkest pixel (centred on the pixel's centre), scored by its darkness."""

    def forward(self, tiles: torch.Tensor) -> Calls:
        """One call per tile."""
        found = []
        for tile in tiles.mean(dim=1):
            y, x = divmod(int(tile.argmin()), tile.shape[1])
            box = torch.tensor([[x - 3.5, y - 3.5, x + 4.5, y + 4.5]])
            found.append({"boxes": box, "scores": (1 - tile.min()).reshape(1), "labels": torch.tensor([1])})
        return found


class FixedBox(torch.nn.Module):
    """Calls one box at the same tile pixels whatever the tile shows: where a flipped view's call lands back."""

    def __init__(self, box: list[float], score: float) -> None:
        super().__init__()
        self.box, self.score = box, score

    def forward(self, tiles: torch.Tensor) -> Calls:
        """The same call on every tile."""
        one = {"boxes": torch.tensor([self.box]), "scores": torch.tensor([self.score]), "labels": torch.tensor([1])}
        return [dict(one) for _ in tiles]


@pytest.mark.parametrize("views", [2, 4])
def test_batched_fusion_gives_the_plain_algorithms_calls(views: int) -> None:
    tiles = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    got = _run(DetectionModel(Scattered(), min_score=0.1, views=views, radius_px=6.0), tiles)
    expected = _reference(Scattered(), tiles, views, 6.0, 0.1)
    assert sum(len(e["scores"]) for e in expected) > 5 * 6  # fused, but not into one call per place
    assert sum(len(e["scores"]) for e in expected) < sum(len(c["scores"]) for c in Scattered()(tiles)) * views
    _assert_same(got, expected)


@pytest.mark.parametrize("one_batch", [True, False])
def test_the_views_as_one_batch_or_one_after_another_give_the_same_calls(one_batch: bool) -> None:
    tiles = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    model = DetectionModel(Scattered(), views=4, radius_px=6.0, one_batch=one_batch)
    raw = model.forward(tiles)
    assert len(raw.passes) == (1 if one_batch else 4)
    with torch.inference_mode():
        _assert_same(model.postprocess(raw), _reference(Scattered(), tiles, 4, 6.0, 0.05))


def test_chunks_of_tiles_give_the_same_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    tiles = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    whole = _run(DetectionModel(Scattered(), views=4, radius_px=6.0), tiles)
    monkeypatch.setattr(views_module, "PAIRS_PER_CHUNK", 1)  # one tile per chunk
    chunked = _run(DetectionModel(Scattered(), views=4, radius_px=6.0), tiles)
    for name in ("boxes", "scores", "labels", "tile"):
        torch.testing.assert_close(getattr(chunked, name), getattr(whole, name))


def test_a_call_every_view_agrees_on_keeps_its_box_and_score() -> None:
    tiles = torch.full((2, 3, 64, 64), 0.9)
    tiles[0, :, 20, 41] = 0.1  # one darkest pixel per tile: every flip finds the same cell
    tiles[1, :, 50, 7] = 0.3
    plain = DarkestPixel()(tiles)
    fused = _run(DetectionModel(DarkestPixel(), views=4), tiles)
    for i, one in enumerate(plain):
        torch.testing.assert_close(fused.select(i).boxes, one["boxes"])
        torch.testing.assert_close(fused.select(i).scores, one["scores"])
    assert fused.labels.tolist() == [1, 1]


def test_a_call_of_one_view_only_keeps_a_quarter_of_its_score() -> None:
    tiles = torch.zeros((1, 3, 64, 64))
    # a box off-centre lands, unflipped, at four places: four groups of one view each
    fused = _run(DetectionModel(FixedBox([4.0, 4.0, 12.0, 12.0], 0.8), views=4), tiles)
    assert fused.scores.tolist() == pytest.approx([0.2] * 4)
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in fused.boxes.tolist())
    assert centres == [(8.0, 8.0), (8.0, 56.0), (56.0, 8.0), (56.0, 56.0)]
    # a box at the tile's centre is the same call in every view
    centred = _run(DetectionModel(FixedBox([28.0, 28.0, 36.0, 36.0], 0.8), views=4), tiles)
    assert centred.scores.tolist() == pytest.approx([0.8]) and centred.boxes.tolist() == [[28.0, 28.0, 36.0, 36.0]]
    # the floor applies to the fused score: a quarter of 0.8 is under 0.25
    assert len(_run(DetectionModel(FixedBox([4.0, 4.0, 12.0, 12.0], 0.8), 0.25, views=4), tiles)) == 0


def test_no_calls_give_an_empty_result() -> None:
    class Nothing(torch.nn.Module):
        def forward(self, tiles: torch.Tensor) -> Calls:
            """No call on any tile."""
            empty = {
                "boxes": torch.zeros((0, 4)),
                "scores": torch.zeros(0),
                "labels": torch.zeros(0, dtype=torch.int64),
            }
            return [empty] * len(tiles)

    fused = _run(DetectionModel(Nothing(), views=4), torch.zeros((3, 3, 32, 32)))
    assert fused.boxes.shape == (0, 4) and len(fused) == 0


def test_views_other_than_1_2_4_are_refused() -> None:
    with pytest.raises(ConfigError, match="views must be 1, 2 or 4"):
        DetectionModel(DarkestPixel(), views=3)


@pytest.mark.parametrize("one_batch", [True, False])
def test_the_bundled_detector_fused_gives_the_plain_algorithms_calls(shared_data: Path, one_batch: bool) -> None:
    bundled = REPO / "models" / "detector.pt"
    if not bundled.is_file():
        pytest.skip(f"bundled detector missing: {bundled}")
    model, config, _ = load_detector(bundled)
    image = np.asarray(Image.open(shared_data / "he" / "tiatoolbox-target.png").convert("RGB"))
    size = config.tile_size
    tiles = (
        torch.stack([torch.from_numpy(image[:size, i * size : (i + 1) * size].copy()) for i in range(3)])
        .permute(0, 3, 1, 2)
        .float()
        .div(255)
    )
    radius = 5.0 / config.mpp
    got = _run(DetectionModel(model, 0.05, views=4, radius_px=radius, one_batch=one_batch), tiles)
    with torch.inference_mode():
        expected = _reference(model, tiles, 4, radius, 0.05)  # torchvision's own forward, view by view
    assert len(got) > 0
    _assert_same(got, expected)
