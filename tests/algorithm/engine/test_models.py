"""algorithm/engine/models.py: the tile-model adapters (mirror views of ProbabilityModel here)."""

from __future__ import annotations

import pytest
import torch

from algorithm.engine import ProbabilityModel
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
