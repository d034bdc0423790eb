"""warm_up: each tile model once at the engine's batch shape, and the device's JPEG decoder, in a thread."""

from __future__ import annotations

import threading

import pytest
import torch

from algorithm.engine.warmup import warm_up


class Recorder:
    """A tile model that notes the shapes it is given and the steps it runs, in which thread."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, tuple[int, ...], str]] = []
        self.fail = fail

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        self.calls.append(("forward", tuple(tiles.shape), threading.current_thread().name))
        return tiles.mean(dim=(1, 2, 3))

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        self.calls.append(("postprocess", tuple(raw.shape), threading.current_thread().name))
        return raw

    def to_host(self, output: torch.Tensor) -> list[float]:
        self.calls.append(("to_host", tuple(output.shape), threading.current_thread().name))
        return output.tolist()


def test_nothing_to_warm_on_the_cpu() -> None:
    model = Recorder()
    warm = warm_up([(model, (32, 32))], torch.device("cpu"), batch_size=4)
    warm.wait()
    assert warm.thread is None and not model.calls


def test_each_model_runs_once_at_the_engines_batch_shape_in_a_thread() -> None:
    first, second = Recorder(), Recorder()
    warm = warm_up([(first, (32, 48)), (second, (16, 16))], torch.device("cpu"), batch_size=5, force=True)
    warm.wait()
    assert warm.done and warm.thread is not None and not warm.thread.is_alive()
    assert [c[:2] for c in first.calls] == [("forward", (5, 3, 32, 48)), ("postprocess", (5,)), ("to_host", (5,))]
    assert second.calls[0][:2] == ("forward", (5, 3, 16, 16))
    assert {c[2] for c in first.calls} == {"warm-up"}


def test_a_failure_is_left_for_the_job_to_meet() -> None:
    model, after = Recorder(fail=True), Recorder()
    warm = warm_up([(model, (8, 8)), (after, (8, 8))], torch.device("cpu"), batch_size=2, force=True)
    warm.wait()  # no exception here: the job's own run reports the problem
    assert not warm.done and not after.calls


def test_the_decoder_warms_up_on_a_batch_of_stored_tile_sized_jpegs(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.io

    calls: list[tuple[int, str]] = []
    decode = torchvision.io.decode_jpeg

    def recording(streams, device="cpu", **kwargs):
        calls.append((len(streams), str(device)))
        images = decode(streams, device=device, **kwargs)
        assert all(tuple(image.shape) == (3, 512, 512) for image in images)
        return images

    monkeypatch.setattr(torchvision.io, "decode_jpeg", recording)
    warm = warm_up([], torch.device("cpu"), batch_size=4, decode=True, force=True)
    warm.wait()
    assert warm.done and calls == [(32, "cpu")]
