"""An ordered, bounded pool of worker threads: the tile engine's producers.

Tile reading is decoding (imagecodecs, OpenSlide), resampling (Pillow) and
table look-ups (numpy): all release the GIL, so threads scale with cores and
share the slide's file handles and caches without pickling. The pool keeps at
most ``window`` items in flight, so memory is bounded by what is being read,
and yields results in input order whatever the timing, so the output is
deterministic. The first failure cancels what is queued, waits for what is
running and is raised in the consumer; closing the iterator early does the
same. Either way no thread outlives the iteration.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

THREAD_PREFIX = "kit-tiles"


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, window: int, ahead: bool = True
) -> Generator[R, None, None]:
    """``fn`` over ``items`` on ``workers`` threads, at most ``window`` in flight, results in order.

    ``ahead``: keep the window full while the consumer works (read-ahead); False: work in bursts
    of ``window`` items started when the consumer asks for the next one, so nothing runs while the
    consumer computes (on a CPU that the consumer already saturates, overlap only adds contention).
    """
    workers, window = max(1, workers), max(1, window)
    executor = ThreadPoolExecutor(workers, thread_name_prefix=THREAD_PREFIX)
    pending: deque[Future[R]] = deque()
    source = iter(items)
    try:
        if ahead:
            for item in source:
                pending.append(executor.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
        else:
            while burst := list(itertools.islice(source, window)):
                pending.extend(executor.submit(fn, item) for item in burst)
                while pending:
                    yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
