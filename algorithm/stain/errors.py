"""The stain package's error kinds.

``algorithm/errors.py`` belongs to the whole kit; the stain package's own
:class:`~algorithm.errors.KitError` subclasses live here:

- :class:`StainFitError`: a normaliser could not be fitted, so callers can
  catch it separately (for example, fall back to no normalisation for a slide
  with almost no tissue) while command lines still print it as one line;
- :class:`InputTypeError`, :class:`InputShapeError` and :class:`NotFittedError`:
  the caller's mistakes (an image that is not uint8 RGB, a normaliser used
  before ``fit``). They are :class:`~algorithm.errors.ConfigError` s and also
  the builtin exceptions these mistakes raised before (``TypeError``,
  ``ValueError``, ``RuntimeError``), so existing handlers still catch them.
  :mod:`algorithm.tissue` raises the first two for its images too.
"""

from __future__ import annotations

from algorithm.errors import ConfigError, KitError


class StainFitError(KitError):
    """A stain normaliser could not be fitted: too little tissue or degenerate colours."""


class InputTypeError(ConfigError, TypeError):
    """An image or argument of the wrong type or dtype (float instead of uint8, a list instead of an array)."""


class InputShapeError(ConfigError, ValueError):
    """An image or argument of the wrong shape (grey, RGBA, channels first, empty where pixels are needed)."""


class NotFittedError(ConfigError, RuntimeError, ValueError):
    """A normaliser used before it was fitted (``transform`` before ``fit``, a fixed map before ``fit_source``).

    A RuntimeError (what ``transform`` raised before) and a ValueError (what ``StainSpec.of`` raised).
    """
