"""The progress bar over a cohort's slides, with its throughput in slides per hour."""

from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

from algorithm.cohort.record import FAILED, SlideRow


class CohortProgress:
    """A bar on a terminal (stderr) counting slides, slides skipped included; silent elsewhere
    unless KIT_PROGRESS=1 (the kit's other bars' rule)."""

    def __init__(self, total: int, skipped: int) -> None:
        disable = not sys.stderr.isatty() and os.environ.get("KIT_PROGRESS") != "1"
        self.bar = tqdm(total=total, initial=skipped, desc="cohort", unit="slide", disable=disable, dynamic_ncols=True)
        self.started = time.perf_counter()
        self.ran = 0
        self.failed = 0

    def rate(self) -> float:
        """Slides run per hour so far (skipped slides not counted)."""
        elapsed = time.perf_counter() - self.started
        return 3600 * self.ran / elapsed if elapsed > 0 else 0.0

    def row(self, row: SlideRow) -> None:
        """One slide finished (done or failed)."""
        self.ran += 1
        self.failed += row.status == FAILED
        self.bar.update(1)
        self.tick()

    def tick(self) -> None:
        """Refresh the throughput shown."""
        self.bar.set_postfix_str(f"{self.rate():.0f} slides/h, {self.failed} failed")

    def close(self) -> None:
        """Take the bar off the terminal."""
        self.bar.close()
