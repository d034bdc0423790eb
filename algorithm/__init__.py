"""Algorithm container package and the shared pathology library.

Pipeline modules, in the order a slide flows through them:
``slide`` (read) -> ``tissue`` (mask) -> ``tiling`` (tile grid) -> ``stain``
(normalisation) -> models -> outputs. ``training`` imports the same modules.
"""

__version__ = "0.1.0"
