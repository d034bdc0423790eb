from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Generator
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.detection.slide import DetectionOptions, detect_slide, detection_grid
from algorithm.device import as_float
from algorithm.engine import (
    DetectionModel,
    EngineOptions,
    ProbabilityModel,
    TileDetections,
    TileRun,
    load_torchscript,
)
from algorithm.engine.pool import THREAD_PREFIX
from algorithm.engine.run import _store, first_tiles, resample_on_device, torch_threads
from algorithm.errors import ConfigError, SlideError
from algorithm.models import SegmenterConfig, load_detector
from algorithm.segmentation import segment_slide
from algorithm.slide import open_slide
from algorithm.slide.resample import reduce_box_tensor, resample
from algorithm.tiling import read_tile, tile_grid
from algorithm.tissue import tissue_mask
from tests.algorithm.engine.helpers import REPO, Echo, detections, slide_with_a_broken_tile
from tests.conftest import blob_image, write_pyramid_tiff


class MeanColour(torch.nn.Module):
    """Not the kit's model: each tile's mean colour, so every output can be checked against its tile."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles.mean(dim=(2, 3))


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


@pytest.fixture()
def blob_slide(tmp_path: Path) -> Path:
    return write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 700, seed=5), mpp=0.25, tile=64, compression="jpeg")


def test_batches_come_in_grid_order_with_the_tiles_read_resampled_and_transformed(blob_slide: Path) -> None:
    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 16, mpp=0.5)
        run = TileRun(slide, grid, Echo(), "cpu", stain=lambda px: 255 - px, options=EngineOptions(batch_size=5))
        results = list(run)
        assert [t for r in results for t in r.tiles] == list(grid.tiles)
        assert [len(r.tiles) for r in results][:-1] == [5] * (len(results) - 1)
        pixels = np.concatenate([r.output for r in results])
        for tile, got in zip(grid.tiles, pixels, strict=False):
            np.testing.assert_array_equal(got, 255 - read_tile(slide, grid, tile))
    assert run.stats.tiles == len(grid) and run.stats.tiles_per_second > 0
    assert "tiles/s" in run.stats.line()
    assert not _threads()


def test_the_cpu_model_gets_as_floats_bytes_and_layout(blob_slide: Path) -> None:
    # the CPU readers write float slots: the model's input must be exactly as_float of the uint8 tiles
    class Keep:
        def forward(self, tiles: torch.Tensor) -> torch.Tensor:
            return tiles

        def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
            return raw

        def to_host(self, output: torch.Tensor) -> torch.Tensor:
            return output.clone()

    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 16, mpp=0.5)
        stain = lambda px: 255 - px  # noqa: E731 - a host transform tile by tile
        run = TileRun(slide, grid, Keep(), "cpu", stain=stain, options=EngineOptions(batch_size=5))
        for result in run:
            uint8 = np.stack([255 - read_tile(slide, grid, tile) for tile in result.tiles])
            expected = as_float(torch.from_numpy(uint8))
            assert result.output.dtype == torch.float32 and result.output.stride() == expected.stride()
            assert torch.equal(result.output, expected)


def test_cpu_batches_fill_their_float_slots_again_unless_the_output_may_view_them(blob_slide: Path) -> None:
    class Doubled(torch.nn.Module):  # a new tensor: the slots may be filled again
        def forward(self, tiles: torch.Tensor) -> torch.Tensor:
            return tiles[:, :1] * 2

    options = EngineOptions(batch_size=4, workers=2, cpu_burst=1)
    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 16, mpp=0.5)
        batches = -(-len(grid) // 4)
        assert batches >= 5 and len(grid) % 4, "several full batches and a short last one"
        for module, factor in ((Doubled(), 2.0), (torch.nn.Identity(), 1.0)):  # Identity: the output views its input
            run = TileRun(slide, grid, ProbabilityModel(module, activation=None), "cpu", options=options)
            for result in list(run):  # all kept: a buffer filled again too early would change earlier outputs
                tiles = np.stack([read_tile(slide, grid, tile) for tile in result.tiles])
                expected = factor * as_float(torch.from_numpy(tiles))[:, 0].numpy()
                np.testing.assert_array_equal(result.output, expected)
            # one buffer for the full batches and one for the short last batch, or one per batch
            assert run.allocated == (2 if factor == 2.0 else batches)


def test_float_slots_hold_as_floats_bytes_for_every_level() -> None:
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    slot = np.empty(levels.shape, np.float32)
    _store(slot, levels)
    assert torch.equal(torch.from_numpy(slot).permute(0, 3, 1, 2), as_float(torch.from_numpy(levels)))


def test_same_input_same_bytes_whatever_the_workers(synthetic_slide) -> None:
    outputs = []
    for workers, batch, burst in ((1, 8, 1), (2, 8, 4), (4, 8, 3)):
        engine = EngineOptions(batch_size=batch, workers=workers, cpu_burst=burst)
        found = detections(synthetic_slide.files.slide, engine)
        c = found.candidates
        outputs.append(np.concatenate([c.points.ravel(), c.scores, c.labels]).tobytes())
    assert len(found.candidates) > 0
    assert outputs[0] == outputs[1] == outputs[2]


def test_the_device_path_on_the_cpu_gives_the_same_detections(synthetic_slide) -> None:
    """What CUDA runs (raw regions resampled and stain-normalised on the device), checked here on the CPU."""
    found = {
        on_device: detections(
            synthetic_slide.files.slide, EngineOptions(on_device=on_device, jpeg_scaling=False)
        ).candidates
        for on_device in (False, True)
    }
    host, device = found[False], found[True]
    # the same input bytes (reduce_box_tensor, the same stain map): the same candidates
    assert len(host) > 0
    np.testing.assert_array_equal(device.points, host.points)
    np.testing.assert_array_equal(device.scores, host.scores)


def test_jpeg_scaling_gives_the_box_shrinks_detections_within_decoder_noise(synthetic_slide) -> None:
    """Issue 11's tolerance for a faster decoder: the same detections within 0.5 um and 0.02 probability."""
    found = {
        scaling: detections(synthetic_slide.files.slide, EngineOptions(jpeg_scaling=scaling))
        for scaling in (False, True)
    }
    threshold = float(load_detector(REPO / "models" / "detector.pt")[2]["threshold"])  # the bundled model's
    exact, scaled = found[False].candidates, found[True].candidates
    assert (exact.scores >= threshold).sum() > 0
    tolerance_px = 0.5 / 0.25  # the slide is at 0.25 um/px
    for ours, theirs in ((exact, scaled), (scaled, exact)):  # each detection has its twin in the other run
        kept = ours.scores >= threshold
        for point, score in zip(ours.points[kept], ours.scores[kept], strict=True):
            near = np.hypot(*(theirs.points - point).T) <= tolerance_px
            assert near.any() and np.abs(theirs.scores[near] - score).min() <= 0.02, (point, score)


@pytest.mark.parametrize("k", [2, 4])
def test_device_resampling_gives_the_hosts_bytes_for_powers_of_two(k: int) -> None:
    rng = np.random.default_rng(k)
    regions = rng.integers(0, 256, (3, 64 * k, 64 * k, 3), dtype=np.uint8)
    host = np.stack([resample(r, (128 * k, 128 * k), 2.0, (64, 64)) for r in regions])
    device = resample_on_device(torch.from_numpy(regions), (128 * k, 128 * k), 2.0, (64, 64)).numpy()
    np.testing.assert_array_equal(device, host)
    np.testing.assert_array_equal(reduce_box_tensor(torch.from_numpy(regions), k).numpy(), host)


def test_device_resampling_near_the_host_for_other_factors() -> None:
    """Shrunk by 1.5 (a slide at 0.33 um/px read at 0.5): torch's area average is not Pillow's box
    filter, whose windows take whole pixels by their centres; on tissue-like (smooth) pixels they
    differ by about a level."""
    regions = np.stack([blob_image(96, 96, seed=s) for s in (1, 2)])
    host = np.stack([resample(r, (96, 96), 1.0, (64, 64)) for r in regions])
    device = resample_on_device(torch.from_numpy(regions), (96, 96), 1.0, (64, 64)).numpy()
    assert np.abs(host.astype(int) - device).mean() < 1.5


def test_a_tile_that_cannot_be_read_mid_slide_stops_everything(tmp_path: Path) -> None:
    path = slide_with_a_broken_tile(tmp_path)
    with open_slide(path) as slide:
        grid = tile_grid(slide, 128, 16)
        run = TileRun(slide, grid, Echo(), "cpu", options=EngineOptions(batch_size=4, workers=3))
        with pytest.raises(SlideError, match="broken.tiff"):
            list(run)
    assert not _threads()


def test_stopping_early_leaves_no_workers(blob_slide: Path) -> None:
    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 0)
        batches = iter(TileRun(slide, grid, Echo(), "cpu", options=EngineOptions(batch_size=2, workers=3)))
        assert isinstance(batches, Generator)  # closing it stops the run
        next(batches)
        batches.close()
    assert not _threads()


def test_a_participants_own_detector_plugs_in(blob_slide: Path) -> None:
    """Any torch module returning torchvision-style dicts runs with the kit's reading, stitching and NMS."""

    class DarkestPixel(torch.nn.Module):
        def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
            n, _, h, w = tiles.shape
            where = tiles.sum(1).flatten(1).argmin(1)
            y, x = (where // w).float(), (where % w).float()
            boxes = torch.stack([x - 4, y - 4, x + 4, y + 4], 1)
            return [
                {"boxes": boxes[i : i + 1], "scores": torch.ones(1), "labels": torch.ones(1, dtype=torch.int64)}
                for i in range(n)
            ]

    config = type("Config", (), {"tile_size": 64, "mpp": 0.5})()
    with open_slide(blob_slide) as slide:
        found = detect_slide(slide, DarkestPixel(), config, DetectionOptions(nms_radius_um=1.0))
        grid = detection_grid(slide, config, DetectionOptions(), tissue_mask(slide))
    assert 0 < len(found.candidates) <= len(grid)
    assert found.raw_candidates == len(grid)  # one per tile, merged across overlaps by the slide NMS


def test_probability_model_pools_and_picks_a_channel() -> None:
    model = ProbabilityModel(MeanColour(), activation=None)
    x = torch.rand(2, 3, 8, 8)
    out = model.to_host(model.postprocess(MeanColour()(x)[:, :, None, None].expand(2, 3, 4, 4)))
    np.testing.assert_allclose(out[:, 0, 0], x.mean(dim=(2, 3))[:, 0].numpy(), rtol=1e-6)
    two = ProbabilityModel(torch.nn.Identity(), size=(2, 2), activation="softmax", channel=1)
    pooled = two.to_host(two.postprocess(torch.zeros(1, 2, 8, 8)))
    assert pooled.shape == (1, 2, 2) and np.allclose(pooled, 0.5)


def test_detection_model_keeps_only_scores_above_its_minimum() -> None:
    class Fixed(torch.nn.Module):
        def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
            boxes = torch.tensor([[0.0, 0, 4, 4], [4.0, 4, 8, 8]])
            return [{"boxes": boxes, "scores": torch.tensor([0.9, 0.01]), "labels": torch.tensor([1, 2])}] * len(tiles)

    model = DetectionModel(Fixed(), min_score=0.05)
    found = model.to_host(model.postprocess(model.forward(torch.zeros(3, 3, 8, 8))))
    assert found.tile.tolist() == [0, 1, 2] and np.allclose(found.centres, [[2, 2]] * 3)


def test_torch_runs_single_threaded_only_while_the_cpu_readers_fill_a_batch(blob_slide: Path) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    class Watch(Echo):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return super().forward(x)

    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 8)

        def transform(pixels: np.ndarray) -> np.ndarray:
            seen.append(-torch.get_num_threads())  # in a reader, during the burst
            return pixels

        list(TileRun(slide, grid, Watch(), "cpu", transform, EngineOptions(batch_size=4, workers=2)))
    assert torch.get_num_threads() == before
    assert {n for n in seen if n < 0} == {-1} and {n for n in seen if n > 0} == {before}
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("restored even so")
    assert torch.get_num_threads() == before


def test_a_padded_short_last_batch_gives_the_same_detections(synthetic_slide) -> None:
    """CUDA pads a slide's short last batch to the batch size (one shape, warmed up): checked here on the CPU."""
    found = {
        pad: detections(synthetic_slide.files.slide, EngineOptions(batch_size=7, pad=pad)) for pad in (False, True)
    }
    assert found[True].tiles % 7, "the grid must end in a short batch"
    plain, padded = found[False].candidates, found[True].candidates
    assert len(plain) > 0 and len(padded) == len(plain)
    np.testing.assert_allclose(padded.points, plain.points, atol=1e-3)
    np.testing.assert_allclose(padded.scores, plain.scores, atol=1e-5)


def test_a_models_own_output_is_never_padded(blob_slide: Path) -> None:
    """The engine cannot cut a model's own output back to the real tiles, so it gives such a model short batches."""
    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 16, mpp=0.5)
        assert len(grid) % 6
        results = list(TileRun(slide, grid, Echo(), "cpu", options=EngineOptions(batch_size=6, pad=True)))
    assert [len(r.output) for r in results] == [len(r.tiles) for r in results]


def test_first_tiles_keeps_a_padded_batchs_real_tiles() -> None:
    found = TileDetections(
        boxes=torch.arange(12, dtype=torch.float32).reshape(3, 4),
        scores=torch.tensor([0.9, 0.8, 0.7]),
        labels=torch.tensor([1, 1, 2]),
        tile=torch.tensor([0, 3, 5]),
    )
    kept = first_tiles(found, 4)
    assert kept.tile.tolist() == [0, 3] and kept.scores.tolist() == pytest.approx([0.9, 0.8])
    assert first_tiles(torch.zeros(6, 2, 2), 4).shape == (4, 2, 2)
    with pytest.raises(TypeError, match="cannot cut"):
        first_tiles([1, 2, 3], 2)


def test_jpeg_scaling_defaults_to_detection_models_only() -> None:
    detector, heatmap = DetectionModel(torch.nn.Identity(), 0.05), ProbabilityModel(torch.nn.Identity())
    assert EngineOptions().scales_jpeg(detector) and not EngineOptions().scales_jpeg(heatmap)
    assert not EngineOptions().scales_jpeg(MeanColour())  # a participant's own model: the exact bytes
    assert EngineOptions(jpeg_scaling=True).scales_jpeg(heatmap)
    assert not EngineOptions(jpeg_scaling=False).scales_jpeg(detector)


class NoHost:
    """forward and postprocess but no to_host: not a tile model."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        return raw


def test_what_is_not_a_tile_model_is_refused_before_any_work(blob_slide: Path) -> None:
    config = SegmenterConfig(tile_size=64, mpp=1.0)
    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 0, mpp=0.5)
        with pytest.raises(ConfigError, match=r"^the model is a torch module \(Conv2d\), not a tile model: wrap"):
            TileRun(slide, grid, torch.nn.Conv2d(3, 1, 1), "cpu")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^the model \(NoHost\) is not a tile model: it lacks to_host; wrap"):
            TileRun(slide, grid, NoHost(), "cpu")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^ProbabilityModel wraps a torch module .* got NoHost"):
            segment_slide(slide, NoHost(), config)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^DetectionModel wraps a torch module .* got NoHost"):
            detect_slide(slide, NoHost(), config)  # type: ignore[arg-type]


def test_a_device_that_cannot_be_used_is_a_config_error_about_the_device(tmp_path: Path, blob_slide: Path) -> None:
    path = tmp_path / "identity.pt"
    with warnings.catch_warnings():  # torch marks TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(torch.nn.Identity()), str(path))
    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 0, mpp=0.5)
        with pytest.raises(ConfigError, match=r"^unknown device 'gpu'; use auto, cpu, cuda or cuda:N"):
            TileRun(slide, grid, ProbabilityModel(torch.nn.Identity()), "gpu")
        with pytest.raises(ConfigError, match=r"^unknown device 'gpu'"):
            load_torchscript(path, device="gpu")
        if not torch.cuda.is_available():  # the file is fine: the device is the problem
            with pytest.raises(ConfigError, match=r"^device 'cuda' asked for, but CUDA is not available"):
                load_torchscript(path, device="cuda")
            with pytest.raises(ConfigError, match=r"^device 'cuda' asked for, but CUDA is not available"):
                TileRun(slide, grid, ProbabilityModel(torch.nn.Identity()), "cuda")
        assert TileRun(slide, grid, ProbabilityModel(torch.nn.Identity()), "auto").device.type in ("cpu", "cuda")


def test_a_map_of_another_shape_stops_the_heatmap_with_a_config_error(blob_slide: Path) -> None:
    class ChannelsLast(torch.nn.Module):
        def forward(self, tiles: torch.Tensor) -> torch.Tensor:
            return tiles[:, :1].permute(0, 2, 3, 1)  # (N, h, w, 1)

    with open_slide(blob_slide) as slide, pytest.raises(ConfigError, match=r"looks channels-last") as caught:
        segment_slide(slide, ChannelsLast(), SegmenterConfig(tile_size=64, mpp=1.0))
    assert re.match(r"the model returned \(\d+, 64, 64, 1\) for a batch of \(\d+, 3, 64, 64\) tiles", str(caught.value))


def test_a_module_on_another_device_is_moved_to_the_runs(blob_slide: Path) -> None:
    """An adapter's module is moved to the run's device ("meta" stands in for a GPU the module is not on); a tile
    model of one's own is left as it is."""
    net, own = torch.nn.Conv2d(3, 1, 1), torch.nn.Conv2d(3, 1, 1)

    class Own(Echo):
        module = own

    with open_slide(blob_slide) as slide:
        grid = tile_grid(slide, 64, 0, mpp=0.5)
        TileRun(slide, grid, ProbabilityModel(net), "meta")
        TileRun(slide, grid, Own(), "meta")
    assert {p.device.type for p in net.parameters()} == {"meta"}
    assert {p.device.type for p in own.parameters()} == {"cpu"}
