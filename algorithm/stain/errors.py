"""The stain package's error kind.

``algorithm/errors.py`` belongs to the whole kit; stain fitting failures get
their own :class:`~algorithm.errors.KitError` subclass here so callers can
catch them separately (for example, fall back to no normalisation for a slide
with almost no tissue) while command lines still print them as one line.
"""

from __future__ import annotations

from algorithm.errors import KitError


class StainFitError(KitError):
    """A stain normaliser could not be fitted: too little tissue or degenerate colours."""
