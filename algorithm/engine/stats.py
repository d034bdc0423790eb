"""Where a tile run's time went: reading, normalising, the model, post-processing, waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class EngineStats:
    """Counters of one run. ``read`` and ``normalise`` add up the workers' time (they run in
    parallel, so they may exceed the wall time); the rest is the consumer's wall time.
    ``waited``: the model waiting for tiles, the figure that says the producers are the bottleneck.
    A timing nested in another (the reader's stain map inside a read) counts only for itself."""

    device: str = "cpu"
    workers: int = 1
    batch_size: int = 1
    tiles: int = 0
    seconds: float = 0.0
    setup: float = 0.0  # before the first tile: stain table or device map, the device decoder's plan and probe
    read: float = 0.0
    decode: float = 0.0  # stored tiles decoded and assembled on the device (the consumer's; device_decode)
    normalise: float = 0.0
    model: float = 0.0
    post: float = 0.0
    waited: float = 0.0
    decoded: int = 0  # stored tiles of the file decoded (0: read through the reader's regions)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _nested: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to the counter ``name`` (thread-safe: workers time themselves)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + seconds)

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        """Add the block's time to ``name``, less the time of timings nested in it (in this thread)."""
        stack: list[float] = self._nested.__dict__.setdefault("stack", [])
        stack.append(0.0)  # time of the timings nested in this one
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.add(name, elapsed - stack.pop())
            if stack:
                stack[-1] += elapsed

    @property
    def tiles_per_second(self) -> float:
        """Tiles through the whole run per second of wall time."""
        return self.tiles / self.seconds if self.seconds > 0 else 0.0

    def split(self) -> dict[str, float]:
        """Seconds per stage, in pipeline order."""
        return {
            "setup": self.setup,
            "read": self.read,
            "decode": self.decode,
            "normalise": self.normalise,
            "model": self.model,
            "post": self.post,
            "waited": self.waited,
        }

    def line(self) -> str:
        """One line for the job's summary: throughput and where the time went."""
        parts = ", ".join(f"{name} {value:.1f} s" for name, value in self.split().items() if value >= 0.05)
        return (
            f"{self.tiles} tiles in {self.seconds:.1f} s, {self.tiles_per_second:.0f} tiles/s on {self.device} "
            f"({self.workers} readers, batch {self.batch_size}; {parts or 'all under 0.05 s'})"
        )

    def to_dict(self) -> dict[str, float | int | str]:
        """Every figure, for JSON (benchmarks, job summaries)."""
        return {
            "device": self.device,
            "workers": self.workers,
            "batch_size": self.batch_size,
            "tiles": self.tiles,
            "seconds": self.seconds,
            "tiles_per_second": self.tiles_per_second,
            "decoded": self.decoded,
            **self.split(),
        }
