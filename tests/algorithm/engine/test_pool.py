from __future__ import annotations

import random
import threading
import time

import pytest

from algorithm.engine.pool import THREAD_PREFIX, ordered_map


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_results_in_input_order_whatever_the_timing() -> None:
    rng = random.Random(0)
    delays = [rng.random() * 0.004 for _ in range(200)]

    def slow_square(i: int) -> int:
        time.sleep(delays[i])
        return i * i

    assert list(ordered_map(slow_square, range(200), workers=4, window=16)) == [i * i for i in range(200)]
    assert not _pool_threads()


def test_in_flight_work_is_bounded_by_the_window() -> None:
    lock = threading.Lock()
    running = peak = 0

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return i

    consumed = 0
    for _ in ordered_map(work, range(100), workers=8, window=3):
        consumed += 1
        time.sleep(0.001)
    assert consumed == 100
    assert peak <= 3


def test_first_error_stops_the_workers_and_reaches_the_consumer() -> None:
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 10:
            raise ValueError("tile 10 is corrupt")
        time.sleep(0.001)
        return i

    got = []
    with pytest.raises(ValueError, match="tile 10"):
        for value in ordered_map(work, range(1000), workers=2, window=4):
            got.append(value)
    assert got == list(range(10))
    assert max(started) < 10 + 4 + 2  # nothing beyond the window was started
    assert not _pool_threads()


def test_closing_early_leaves_no_threads() -> None:
    results = ordered_map(lambda i: i, range(10_000), workers=3, window=8)
    assert next(results) == 0
    results.close()
    assert not _pool_threads()
