"""algorithm/engine/models.py: the tile-model adapters (mirror views; what a module returns checked; eval mode;
the device; what is not a tile model)."""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from algorithm.engine import ClassifierModel, DetectionModel, ProbabilityModel, TileDetections
from algorithm.engine.models import engine_device, not_a_tile_model
from algorithm.errors import ConfigError


class Lopsided(torch.nn.Module):
    """Logits that are not mirror-symmetric: each pixel plus its left neighbour's double."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(1, keepdim=True)
        return grey + 2 * torch.roll(grey, 1, dims=-1) + 3 * torch.roll(grey, 1, dims=-2)


@pytest.mark.parametrize("views", [2, 4])
def test_views_average_the_mirror_images_mapped_back(views: int) -> None:
    module, tiles = Lopsided(), torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    flips = [(), (-1,)] if views == 2 else [(), (-1,), (-2,), (-2, -1)]
    expected = sum(module(tiles.flip(d)).flip(d) if d else module(tiles) for d in flips) / views
    got = ProbabilityModel(module, views=views).forward(tiles)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, module(tiles))  # the lopsided module does see the difference
    # mirror images cancel the lopsidedness: the averaged map of a mirrored tile is the map mirrored
    mirrored = ProbabilityModel(module, views=4).forward(tiles.flip(-1))
    torch.testing.assert_close(mirrored, ProbabilityModel(module, views=4).forward(tiles).flip(-1))


def test_one_view_is_the_module_itself() -> None:
    module, tiles = Lopsided(), torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(ProbabilityModel(module).forward(tiles), module(tiles))


def test_views_other_than_1_2_4_are_refused() -> None:
    with pytest.raises(ConfigError, match="views must be 1, 2 or 4"):
        ProbabilityModel(Lopsided(), views=3)


class _Corner(torch.nn.Module):
    """A classifier that reads the top-left pixel: mirror views see other corners."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles[:, 0, 0, 0]


@pytest.mark.parametrize("views", [1, 2, 4])
def test_classifier_views_average_the_logits_of_the_mirror_images(views: int) -> None:
    from algorithm.engine import ClassifierModel

    tiles = torch.zeros(2, 3, 4, 4)
    tiles[0, 0, 0, 0], tiles[0, 0, 0, -1], tiles[0, 0, -1, 0], tiles[0, 0, -1, -1] = 4.0, 2.0, 1.0, -3.0
    tiles[1, 0, 0, 0] = -8.0
    model = ClassifierModel(_Corner(), views=views)
    seen = {1: [0], 2: [0, 1], 4: [0, 1, 2, 3]}[views]  # corners: top-left, top-right, bottom-left, bottom-right
    corners = torch.tensor([[4.0, 2.0, 1.0, -3.0], [-8.0, 0.0, 0.0, 0.0]])
    expected = torch.sigmoid(corners[:, seen].mean(dim=1))
    probabilities = model.to_host(model.postprocess(model.forward(tiles)))
    assert probabilities.shape == (2,)
    assert probabilities.dtype.name == "float32"
    assert torch.allclose(torch.from_numpy(probabilities), expected)


def test_classifier_with_several_classes_keeps_the_asked_channel() -> None:
    from algorithm.engine import ClassifierModel

    class Two(torch.nn.Module):
        def forward(self, tiles: torch.Tensor) -> torch.Tensor:
            return torch.stack([tiles.mean(dim=(1, 2, 3)), -tiles.mean(dim=(1, 2, 3))], dim=1)

    tiles = torch.full((3, 3, 8, 8), 0.5)
    model = ClassifierModel(Two(), activation="softmax", channel=1)
    out = model.to_host(model.postprocess(model.forward(tiles)))
    assert out.shape == (3,)
    assert out == pytest.approx(torch.softmax(torch.tensor([0.5, -0.5]), 0)[1].item())


# -- a participant's own module: what it returns is checked batch by batch ------------------------


class Returns(torch.nn.Module):
    """A module returning ``make(tiles)``: whatever a participant's model might."""

    def __init__(self, make: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.make = make

    def forward(self, tiles: torch.Tensor) -> Any:
        return self.make(tiles)


TILES = torch.rand(8, 3, 256, 256, generator=torch.Generator().manual_seed(1))


def _maps(tiles: torch.Tensor, h: int = 64, w: int = 64, c: int = 1) -> torch.Tensor:
    return torch.zeros(tiles.shape[0], c, h, w)


@pytest.mark.parametrize(
    ("make", "returned"),
    [
        (lambda x: _maps(x).permute(0, 2, 3, 1), r"\(8, 64, 64, 1\).*looks channels-last"),
        (lambda x: _maps(x, 64, 32), r"\(8, 1, 64, 32\)"),  # a square tile's map stretched
        (lambda x: _maps(x, 37, 41), r"\(8, 1, 37, 41\)"),
        (lambda x: torch.zeros(x.shape[0]), r"\(8,\)"),
        (lambda x: torch.zeros(x.shape[0], 1), r"\(8, 1\)"),
        (lambda x: _maps(x)[:1], r"\(1, 1, 64, 64\)"),  # the first tile's map only
        (lambda x: _maps(x)[0, 0], r"\(64, 64\)"),
        (lambda x: list(_maps(x)), r"a list of 8"),
        (lambda x: _maps(x).numpy(), r"a numpy array \(8, 1, 64, 64\)"),
        (lambda x: {"logits": _maps(x)}, r"a dict of keys 'logits'"),
    ],
)
def test_maps_of_another_shape_are_refused_naming_what_came_back(make: Callable, returned: str) -> None:
    model = ProbabilityModel(Returns(make))
    expected = r"for a batch of \(8, 3, 256, 256\) tiles; expected \(8, C, h, w\) maps \(or \(8, h, w\)\)"
    with pytest.raises(ConfigError, match=rf"^the model returned {returned}") as caught:
        model.forward(TILES)
    assert re.search(expected, str(caught.value)), caught.value


@pytest.mark.parametrize("views", [1, 2, 4])
def test_maps_of_the_tiles_aspect_ratio_at_any_resolution_are_taken(views: int) -> None:
    for side in (64, 256, 512):
        out = ProbabilityModel(Returns(functools.partial(_maps, h=side, w=side)), size=(128, 128), views=views)
        assert out.postprocess(out.forward(TILES)).shape == (8, 128, 128)
    wide = torch.rand(2, 3, 64, 128)
    assert ProbabilityModel(Returns(lambda x: _maps(x, 16, 32))).forward(wide).shape == (2, 1, 16, 32)
    with pytest.raises(ConfigError, match=r"returned \(2, 1, 16, 16\) .* aspect ratio, 64:128"):
        ProbabilityModel(Returns(lambda x: _maps(x, 16, 16))).forward(wide)


def test_torchvision_segmentation_models_dict_out_is_taken() -> None:
    """torchvision's FCN / DeepLabV3 / LRASPP return {"out": maps, "aux": ...}: the maps are "out"."""
    maps = torch.randn(8, 2, 64, 64)
    model = ProbabilityModel(Returns(lambda x: {"out": maps, "aux": torch.zeros(1)}), activation="softmax", channel=1)
    got = model.postprocess(model.forward(TILES))
    torch.testing.assert_close(got, torch.softmax(maps, dim=1)[:, 1])


def test_a_channel_the_model_does_not_return_and_softmax_over_one_channel_are_refused() -> None:
    two = ProbabilityModel(Returns(lambda x: _maps(x, c=2)), channel=3)
    with pytest.raises(ConfigError, match=r"channel 3 asked for, but the model returned 2 channel"):
        two.postprocess(two.forward(TILES))
    one = ProbabilityModel(Returns(lambda x: _maps(x)), activation="softmax")
    with pytest.raises(ConfigError, match=r"softmax over the model's one channel .* use sigmoid"):
        one.postprocess(one.forward(TILES))
    with pytest.raises(ConfigError, match=r"channel must be a whole number from 0, got -1"):
        ProbabilityModel(Returns(_maps), channel=-1)
    labels = ProbabilityModel(Returns(lambda x: _maps(x).long()))
    with pytest.raises(ConfigError, match=r"of torch.int64; sigmoid expects floating-point logits"):
        labels.forward(TILES)


def test_nan_in_a_map_is_refused_on_the_host() -> None:
    def some_nan(tiles: torch.Tensor) -> torch.Tensor:
        maps = _maps(tiles)
        maps[3, 0, 5, 7] = maps[5, 0, 0, 0] = float("nan")
        return maps

    model = ProbabilityModel(Returns(some_nan), size=(32, 32))
    output = model.postprocess(model.forward(TILES))  # no check on the device: nothing waits for it
    with pytest.raises(ConfigError, match=r"holds NaN for 2 of the batch's 8 tiles \(the first: the batch's tile 3\)"):
        model.to_host(output)
    classifier = ClassifierModel(Returns(lambda x: torch.full((len(x),), float("nan"))))
    with pytest.raises(ConfigError, match=r"NaN for 8 of the batch's 8 tiles"):
        classifier.to_host(classifier.postprocess(classifier.forward(TILES)))


@pytest.mark.parametrize(
    ("make", "returned"),
    [
        (lambda x: torch.zeros(1), r"\(1,\)"),
        (lambda x: torch.zeros(len(x), 2, 1, 1), r"\(8, 2, 1, 1\)"),
        (lambda x: [torch.zeros(1)] * len(x), r"a list of 8"),
        (lambda x: torch.zeros(len(x)).numpy(), r"a numpy array \(8,\)"),
    ],
)
def test_classifier_outputs_of_another_shape_are_refused(make: Callable, returned: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"the classifier returned {returned} for a batch of \(8, 3, 256, 256\) tiles; "
    ):
        ClassifierModel(Returns(make)).forward(TILES)


# -- detections -----------------------------------------------------------------------------------


def _dicts(n: int, k: int = 1) -> list[dict[str, torch.Tensor]]:
    box = [10.0, 10.0, 60.0, 60.0]
    return [
        {"boxes": torch.tensor([box] * k), "scores": torch.full((k,), 0.9), "labels": torch.ones(k, dtype=torch.int64)}
        for _ in range(n)
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda x: _dicts(1), r"^the detector returned 1 result for a batch of 8 tiles; expected one dict per tile"),
        (lambda x: _dicts(len(x) + 3), r"^the detector returned 11 results for a batch of 8 tiles"),
        (
            lambda x: [{k: v for k, v in d.items() if k != "labels"} for d in _dicts(len(x))],
            r"^tile 0's dict lacks 'labels'",
        ),
        (lambda x: torch.zeros(len(x), 5), r"^the detector returned \(8, 5\) for a batch of \(8, 3, 256, 256\) tiles"),
        (lambda x: [torch.zeros(1, 4)] * len(x), r"^the detector's result for tile 0 is \(1, 4\), not a dict"),
        (
            lambda x: TileDetections(torch.zeros(2, 4), torch.zeros(2, 1), torch.zeros(2), torch.zeros(2)),
            r"^the detector returned TileDetections of boxes \(2, 4\), scores \(2, 1\)",
        ),
    ],
)
def test_a_detectors_results_that_do_not_match_the_batch_are_refused(make: Callable, message: str) -> None:
    model = DetectionModel(Returns(make))
    with pytest.raises(ConfigError, match=message):
        model.postprocess(model.forward(TILES))


def test_a_scripted_torchvision_detector_gets_a_list_and_its_detections_are_taken() -> None:
    """A scripted torchvision detector's forward takes a list of images and returns (losses, detections)."""

    class Scripted(torch.nn.Module):
        def forward(self, images: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
            found: list[dict[str, torch.Tensor]] = []
            for i, image in enumerate(images):
                x = float(i) + image[0, 0, 0] * 0
                boxes = torch.stack([x, x, x + 8, x + 8])[None]
                found.append({"boxes": boxes, "scores": torch.ones(1), "labels": torch.ones(1, dtype=torch.int64)})
            return {}, found

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = DetectionModel(torch.jit.script(Scripted()))
    found = model.to_host(model.postprocess(model.forward(TILES[:3])))
    assert found.tile.tolist() == [0, 1, 2] and found.boxes[:, 0].tolist() == [0.0, 1.0, 2.0]


# -- eval mode, the device, and what is not a model -----------------------------------------------


class MeanOf(torch.nn.Module):
    """A classifier on a map model: the mean of its map per tile."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return self.net(tiles).mean(dim=(1, 2, 3))


def _batch_norm_net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 1, 1))


@pytest.mark.parametrize("adapter", ["maps", "classifier"])
def test_a_module_left_in_training_mode_is_put_in_eval_mode_its_results_independent_of_the_batch(
    adapter: str,
) -> None:
    net = _batch_norm_net()
    norm = net[1]
    assert isinstance(norm, torch.nn.BatchNorm2d) and norm.running_mean is not None
    norm.running_mean.add_(0.25)  # statistics of its own: training-mode inference would move them
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert net.training
    if adapter == "maps":
        model: ProbabilityModel | ClassifierModel = ProbabilityModel(net)
    else:
        model = ClassifierModel(MeanOf(net))
    assert not net.training and not any(m.training for m in net.modules())
    tiles = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        whole = model.to_host(model.postprocess(model.forward(tiles)))
        one_by_one = np.concatenate([model.to_host(model.postprocess(model.forward(t[None]))) for t in tiles])
    np.testing.assert_allclose(whole, one_by_one, rtol=1e-5, atol=1e-6)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed by inference"


def test_a_detector_left_in_training_mode_runs_in_eval_mode() -> None:
    class Torchvisionish(torch.nn.Module):
        """As torchvision's detectors: in training mode it wants targets."""

        def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
            assert not self.training, "targets should not be none when in training mode"
            return _dicts(len(tiles))

    detector = Torchvisionish()
    model = DetectionModel(detector)
    assert not detector.training
    assert model.to_host(model.postprocess(model.forward(TILES))).tile.tolist() == list(range(8))


def test_the_adapters_move_their_module_where_it_is_not_on_the_device() -> None:
    net = _batch_norm_net()
    pointers = [p.data_ptr() for p in net.parameters()]

    def no_move(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a module already on the device is left alone")

    net.to = no_move  # type: ignore[method-assign,assignment]
    for model in (ProbabilityModel(net), ClassifierModel(net), DetectionModel(net)):
        assert model.to("cpu") is model and model.to(torch.device("cpu")) is model
    assert [p.data_ptr() for p in net.parameters()] == pointers
    del net.to
    # elsewhere ("meta" stands in for a GPU on a machine without one): moved, parameters and buffers
    for adapter in (ProbabilityModel, ClassifierModel, DetectionModel):
        moved = _batch_norm_net()
        adapter(moved).to("meta")
        assert {t.device.type for t in (*moved.parameters(), *moved.buffers())} == {"meta"}


class NoHost:
    """forward and postprocess, but no to_host: not a tile model, nor a module."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        return raw


@pytest.mark.parametrize("adapter", [ProbabilityModel, DetectionModel, ClassifierModel])
def test_an_adapter_refuses_what_cannot_be_called_on_tiles(adapter: type) -> None:
    with pytest.raises(ConfigError, match=rf"{adapter.__name__} wraps a torch module .* got NoHost, .*need to_host"):
        adapter(NoHost())


def test_what_is_not_a_tile_model_is_named_with_how_to_wrap_it() -> None:
    assert not_a_tile_model(ProbabilityModel(torch.nn.Identity())) is None
    plain = not_a_tile_model(torch.nn.Conv2d(3, 1, 1))
    assert plain is not None and plain.startswith("the model is a torch module (Conv2d), not a tile model: wrap")
    assert "ProbabilityModel" in plain and "DetectionModel" in plain and "ClassifierModel" in plain
    partial = not_a_tile_model(NoHost())
    assert partial is not None and partial.startswith("the model (NoHost) is not a tile model: it lacks to_host;")
    assert "lacks forward, postprocess, to_host" in str(not_a_tile_model(object()))


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "nonsense"])
def test_a_device_name_torch_does_not_know_is_a_config_error(device: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown device '{device}'"):
        engine_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is there")
def test_cuda_without_cuda_is_a_config_error_about_the_device() -> None:
    with pytest.raises(ConfigError, match=r"device 'cuda' asked for, but CUDA is not available"):
        engine_device("cuda")


def test_a_gpu_index_past_the_last_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert engine_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=r"device 'cuda:1' asked for, but torch sees 1 GPU"):
        engine_device("cuda:1")
    assert engine_device("cpu") == torch.device("cpu") and engine_device(torch.device("cpu")) == torch.device("cpu")


class Fails(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("shape '[2, 1, 64, 64]' is invalid for input of size 32768")


@pytest.mark.parametrize("adapter", [ProbabilityModel, ClassifierModel, DetectionModel])
def test_a_network_failing_on_a_batch_is_a_config_error_naming_it(adapter: type) -> None:
    with pytest.raises(ConfigError) as error:
        adapter(Fails()).forward(torch.rand(3, 3, 64, 64))
    assert str(error.value) == (
        "the network failed on a batch of (3, 3, 64, 64) tiles on cpu: "
        "RuntimeError: shape '[2, 1, 64, 64]' is invalid for input of size 32768"
    )


def test_running_out_of_memory_stays_what_it_is() -> None:
    class Hungry(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        ProbabilityModel(Hungry()).forward(torch.rand(1, 3, 8, 8))


def test_a_scripted_retinanet_saved_and_loaded_is_decoded_in_batches_with_the_same_detections(tmp_path) -> None:
    from algorithm.engine import load_torchscript
    from algorithm.engine.retinanet import BatchedRetinaNet
    from algorithm.models import DetectorConfig, build_detector

    torch.manual_seed(0)
    eager = build_detector(DetectorConfig(tile_size=64, mpp=1.0)).eval()
    eager.score_thresh = 0.0  # a random network: keep its candidates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation, torchvision's scripting note
        torch.jit.save(torch.jit.script(eager), str(tmp_path / "retinanet.pt"))
    loaded = DetectionModel(load_torchscript(tmp_path / "retinanet.pt"), min_score=0.0)
    assert isinstance(loaded.module, BatchedRetinaNet)  # not torchvision's tile-by-tile post-processing
    tiles = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        found = loaded.to_host(loaded.postprocess(loaded.forward(tiles)))
        expected = [{k: v.numpy() for k, v in d.items()} for d in eager(list(tiles))]
    assert len(found.scores) == sum(len(d["scores"]) for d in expected) > 0
    for tile, wanted in enumerate(expected):
        mine = found.tile == tile
        np.testing.assert_allclose(np.sort(found.scores[mine]), np.sort(wanted["scores"]), rtol=1e-5, atol=1e-6)


def test_error_reason_names_the_type_once() -> None:
    from algorithm.engine.models import error_reason

    scripted = RuntimeError(
        "The following operation failed in the TorchScript interpreter.\nTraceback of TorchScript...\n"
        "RuntimeError: Input type (float) and bias type (c10::Half) should be the same"
    )
    assert error_reason(scripted) == "RuntimeError: Input type (float) and bias type (c10::Half) should be the same"
    assert error_reason(ValueError("bad\nmore")) == "ValueError: bad"
