"""Hard negatives from the detector's own mistakes, fed back into its training.

TUPAC's winners fed misclassified examples back into training; here the current
model is run every ``every`` training steps over a few tiles of a few training
slides, through the container's own whole-slide detection
(:func:`algorithm.detection.slide.detect_slide`: the same tile grid, per-slide
stain normalisation, tile engine and NMS as a job), on the training device.
Its mitotic-figure calls scoring at least ``floor`` that lie farther than
MIDOG's 7.5 um from every true mitosis are its false positives (issue 12 found
the bundled detector's to be mostly lymphocyte-like small dark nuclei and
fibroblast nuclei, cells never planted as imposters). They go into a :class:`HardNegativePool`
(per slide, highest scores first, at most ``per_slide``), and the patch sampler
centres ``share`` of its negative patches on them. With ``scanner`` > 0 the model
sees the mined tiles blurred, compressed and noised (``scanner_view.py``): the
mistakes a softer scanner than the training ones brings out.

Cost of a round: inference over at most ``slides * tiles`` detector tiles
(default 4 x 16 = 64), plus, the first time a slide is mined, its tissue mask
and stain fit (kept for later rounds). On the kit's 2-core CPU (another
training job sharing it) a resnet18 RetinaNet ran 16 tiles of 256 px of a
4096 x 4096 synthetic slide, Macenko-normalised, in 5.6 s: a default round is
about 22 s, against about 250 s for the 100 training steps between rounds
(the recipe's 11 rounds add about 4 minutes to its 50).
Slides are visited round-robin and tiles drawn afresh each round (seeded by
the round and the slide), so successive rounds cover the training set.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.detection.slide import DetectionOptions, SlideDetections, detect_slide, detection_grid, detection_model
from algorithm.engine import TileTransform
from algorithm.errors import ConfigError
from algorithm.models.detector import DetectorConfig
from algorithm.slide import open_slide, units
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tiling import TileGrid
from algorithm.tissue import tissue_mask
from training.datasets.annotations import MITOSIS, SlideAnnotations
from training.detector.scanner_view import ScannerView
from training.detector.validate import MIDOG_RADIUS_UM
from training.scanner_augment import ScannerAugment


@dataclass(frozen=True)
class MiningConfig:
    """How hard negatives are mined and how much of the training they take."""

    share: float = 0.0  # of the negative patches: centred on a mined false positive; 0 disables mining
    every: int = 100  # training steps between mining rounds
    floor: float = 0.3  # lowest score of a mitotic-figure call that counts as a mistake worth learning from
    slides: int = 4  # training slides mined per round (round-robin)
    tiles: int = 16  # detector tiles per slide per round (drawn afresh each round)
    per_slide: int = 64  # most false positives kept per slide (highest scores first)
    radius_um: float = MIDOG_RADIUS_UM  # a call this close to a true mitosis is a hit, not a false positive
    # probability of each of blur, JPEG and noise on the tiles the model sees while mining (scanner_view.py):
    # mistakes a softer scanner brings out; 0: the slides as stored
    scanner: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.share <= 1.0:
            problems.append(f"the hard-negative share must be in [0, 1], got {self.share!r}")
        if not 0.0 <= self.floor <= 1.0:
            problems.append(f"the mining score floor must be in [0, 1], got {self.floor!r}")
        for name in ("every", "slides", "tiles", "per_slide"):
            if int(getattr(self, name)) < 1:
                problems.append(f"mining {name} must be at least 1, got {getattr(self, name)!r}")
        if self.radius_um <= 0:
            problems.append(f"the matching radius must be positive, got {self.radius_um!r}")
        if not 0.0 <= self.scanner <= 1.0:
            problems.append(f"the mining scanner augmentation must be a probability in [0, 1], got {self.scanner!r}")
        if problems:
            raise ConfigError("invalid hard-negative mining: " + "; ".join(problems))

    @property
    def enabled(self) -> bool:
        """Whether any patch is drawn from the pool (and so whether mining runs at all)."""
        return self.share > 0


def false_positives(
    found: SlideDetections, truth: SlideAnnotations, floor: float, radius_um: float = MIDOG_RADIUS_UM
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The mitotic-figure calls at or above ``floor`` farther than ``radius_um`` from every true mitosis:
    their level-0 centres ``(K, 2)`` and scores ``(K,)``, highest score first (ties by position)."""
    c = found.candidates
    keep = (c.labels == MITOSIS) & (c.scores >= floor)
    points, scores = c.points[keep].astype(np.float64), c.scores[keep].astype(np.float64)
    mitoses = truth.mitoses
    if len(points) and len(mitoses):
        um = units.pixels_to_mm(points, found.mpp) * 1000.0
        truth_um = units.pixels_to_mm(mitoses, found.mpp) * 1000.0
        nearest = np.sqrt(((um[:, None, :] - truth_um[None, :, :]) ** 2).sum(-1)).min(axis=1)
        far = nearest > radius_um
        points, scores = points[far], scores[far]
    order = np.lexsort((points[:, 1], points[:, 0], -scores))
    return points[order], scores[order]


class HardNegativePool:
    """Each slide's mined false positives (level-0 centres and scores), highest scores first, capped.

    Re-mining tiles replaces what the pool held inside them (the model may have
    learnt those): entries elsewhere stay until their tiles are mined again.
    """

    def __init__(self, per_slide: int) -> None:
        self.per_slide = int(per_slide)
        self._points: dict[int, NDArray[np.float64]] = {}
        self._scores: dict[int, NDArray[np.float64]] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._scores.values())

    def slides(self) -> list[int]:
        """Indices of the slides that have entries, ascending."""
        return sorted(i for i, s in self._scores.items() if len(s))

    def entries(self, i: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Slide ``i``'s centres ``(K, 2)`` and scores ``(K,)``, highest score first (copies)."""
        if i not in self._scores:
            return np.zeros((0, 2)), np.zeros(0)
        return self._points[i].copy(), self._scores[i].copy()

    def update(
        self, i: int, regions: NDArray[np.float64], points: NDArray[np.float64], scores: NDArray[np.float64]
    ) -> None:
        """Slide ``i`` was mined over ``regions`` (level-0 ``(x, y, w, h)`` rows) and these were its mistakes."""
        old_points, old_scores = self.entries(i)
        regions = np.asarray(regions, np.float64).reshape(-1, 4)
        x, y = old_points[:, 0, None], old_points[:, 1, None]
        inside = (
            (x >= regions[:, 0]) & (x < regions[:, 0] + regions[:, 2])
            & (y >= regions[:, 1]) & (y < regions[:, 1] + regions[:, 3])
        ).any(axis=1)  # fmt: skip
        all_points = np.concatenate([old_points[~inside], np.asarray(points, np.float64).reshape(-1, 2)])
        all_scores = np.concatenate([old_scores[~inside], np.asarray(scores, np.float64).reshape(-1)])
        order = np.lexsort((all_points[:, 1], all_points[:, 0], -all_scores))[: self.per_slide]
        self._points[i], self._scores[i] = all_points[order], all_scores[order]

    def draw(self, i: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """A uniform one of slide ``i``'s entries (it must have some)."""
        points = self._points[i]
        return points[rng.integers(len(points))].copy()

    def to_json(self) -> str:
        """The pool as JSON (for ``last.pt``, so a resumed run draws the same patches)."""
        return json.dumps(
            {
                "per_slide": self.per_slide,
                "slides": {
                    str(i): {"points": self._points[i].tolist(), "scores": self._scores[i].tolist()}
                    for i in self.slides()
                },
            }
        )

    def load_json(self, text: str) -> None:
        """Replace the pool's entries with :meth:`to_json`'s (in place: the sampler keeps its reference)."""
        data = json.loads(text)
        self.per_slide = int(data["per_slide"])
        self._points = {int(k): np.asarray(e["points"], np.float64).reshape(-1, 2) for k, e in data["slides"].items()}
        self._scores = {int(k): np.asarray(e["scores"], np.float64).reshape(-1) for k, e in data["slides"].items()}


@dataclass
class _Prepared:
    """What a slide needs for every round, computed the first time it is mined."""

    grid: TileGrid
    transform: TileTransform | None


class HardNegativeMiner:
    """Runs mining rounds over the training slides and keeps the pool the sampler draws from."""

    def __init__(
        self,
        slides: list[SlideAnnotations],
        config: DetectorConfig,
        mining: MiningConfig,
        stain: StainSpec | None = None,
        device: torch.device | str = "cpu",
        seed: int = 0,
        options: DetectionOptions = DetectionOptions(),
    ) -> None:
        self.slides = slides
        self.config = config
        self.mining = mining
        self.stain = stain
        self.device = device
        self.seed = int(seed)
        self.options = options
        self.pool = HardNegativePool(mining.per_slide)
        self.rounds: list[dict[str, Any]] = []  # one record per round: what was mined and found
        self._prepared: dict[int, _Prepared] = {}

    def due(self, step: int, total: int) -> bool:
        """Whether a round runs after training step ``step`` (1-based) of ``total``: every ``every`` steps,
        not after the last (nothing would learn from it)."""
        return self.mining.enabled and step % self.mining.every == 0 and step < total

    def round_slides(self, number: int) -> list[int]:
        """The slides of round ``number`` (1-based): the next ``slides`` of them, round-robin."""
        n = len(self.slides)
        k = min(self.mining.slides, n)
        return sorted({((number - 1) * k + j) % n for j in range(k)})

    def mine(self, model: torch.nn.Module, step: int) -> dict[str, Any]:
        """One round after training step ``step``: mine its slides, update the pool; its record."""
        started = time.perf_counter()
        number = step // self.mining.every
        record: dict[str, Any] = {"step": step, "slides": [], "tiles": 0, "false_positives": 0}
        was_training = model.training
        model.eval()
        try:
            for i in self.round_slides(number):
                tiles, found = self.mine_slide(model, i, number)
                record["slides"].append(i)
                record["tiles"] += tiles
                record["false_positives"] += found
        finally:
            model.train(was_training)
        record["pool"] = len(self.pool)
        record["seconds"] = round(time.perf_counter() - started, 2)
        self.rounds.append(record)
        return record

    def mine_slide(self, model: torch.nn.Module, i: int, number: int = 1) -> tuple[int, int]:
        """Mine slide ``i`` over the tiles round ``number`` draws for it; (tiles run, false positives found)."""
        ann = self.slides[i]
        with open_slide(ann.slide_path) as slide:
            prepared = self._prepare(i, slide)
            tiles = self._tiles(prepared.grid, i, number)
            if not len(tiles):
                return 0, 0
            seen = self._seen_by(model, i, number)
            found = detect_slide(slide, seen, self.config, self.options, self.device, prepared.transform, tiles)
        points, scores = false_positives(found, ann, self.mining.floor, self.mining.radius_um)
        regions = np.array([(t.x, t.y, t.extent[0], t.extent[1]) for t in tiles], np.float64)
        self.pool.update(i, regions, points, scores)
        return len(tiles), len(points)

    def _seen_by(self, model: torch.nn.Module, i: int, number: int) -> torch.nn.Module | ScannerView:
        """``model``, or with ``scanner`` set, ``model`` seeing slide ``i``'s tiles of round ``number`` through
        another scanner's optics (drawn from a seed of the run, the round and the slide)."""
        if self.mining.scanner <= 0:
            return model
        rng = np.random.default_rng([self.seed, number, i, 1])
        tile_model = detection_model(model, self.config, self.options.candidate_threshold)
        return ScannerView(tile_model, ScannerAugment(p=self.mining.scanner), rng)

    def _prepare(self, i: int, slide: Any) -> _Prepared:
        if i not in self._prepared:
            mask = tissue_mask(slide)
            grid = detection_grid(slide, self.config, self.options, mask)
            transform = slide_normaliser(self.stain, slide, mask, grid.level, pixels=grid.pixels)
            self._prepared[i] = _Prepared(grid, transform)
        return self._prepared[i]

    def _tiles(self, grid: TileGrid, i: int, number: int) -> TileGrid:
        """Up to ``tiles`` of the slide's tissue tiles, drawn by round and slide (seeded), in grid order."""
        if len(grid) <= self.mining.tiles:
            return grid
        rng = np.random.default_rng([self.seed, number, i])
        chosen = np.sort(rng.choice(len(grid), size=self.mining.tiles, replace=False))
        return dataclasses.replace(grid, tiles=tuple(grid.tiles[j] for j in chosen))

    def state(self) -> dict[str, Any]:
        """Settings and per-round counts, for the checkpoint's ``hard_negatives``."""
        return {**dataclasses.asdict(self.mining), "rounds": list(self.rounds), "pool": len(self.pool)}

    def restore(self, pool_json: str, rounds: list[dict[str, Any]]) -> None:
        """Resume: the pool and round records a ``last.pt`` saved."""
        self.pool.load_json(pool_json)
        self.rounds = list(rounds)
