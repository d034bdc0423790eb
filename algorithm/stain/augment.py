"""Stain augmentation for training (StainTools' StainAugmentor, batched and seeded).

Each image's concentrations are perturbed per stain, ``C_k * alpha_k + beta_k``
with ``alpha_k ~ U(1 - sigma1, 1 + sigma1)`` and ``beta_k ~ U(-sigma2,
sigma2)``, and re-rendered with the stain matrix. Differences from StainTools:

- draws come from a seeded ``numpy.random.Generator`` (no global state);
- with ``fit_source`` (or ``set_stain_matrix``) the matrix is fixed per slide
  and a whole batch is augmented in one vectorised pass on its device;
  otherwise each image's matrix is fitted on its own (StainTools) and an
  image that cannot be fitted comes back unchanged;
- the result is uint8 like the input (StainTools returns floats);
- with ``augment_background=False`` non-tissue pixels keep their exact values.
"""

from __future__ import annotations

import numpy as np
import torch

from algorithm.errors import ConfigError
from algorithm.stain.concentrations import DEFAULT_LAMBDA, ConcentrationSolver, check_solver
from algorithm.stain.errors import StainFitError
from algorithm.stain.extractor import StainExtractor, order_and_normalise
from algorithm.stain.images import ImageLike, as_image_batch, to_numpy_pixels
from algorithm.stain.optical_density import luminosity_tissue_mask
from algorithm.stain.stain_normaliser import correlation_tables, correlations, render

RngLike = np.random.Generator | int | None


class StainAugmentor:
    """Random per-image stain perturbation; ``method`` is "macenko", "vahadane" or an extractor."""

    def __init__(
        self,
        method: str | StainExtractor = "macenko",
        sigma1: float = 0.2,
        sigma2: float = 0.2,
        augment_background: bool = True,
        solver: str = "lasso",
        lam: float = DEFAULT_LAMBDA,
    ):
        if isinstance(method, str):
            from algorithm.stain import get_extractor  # the factory lives in the package

            method = get_extractor(method)
        self.extractor: StainExtractor = method
        if sigma1 < 0 or sigma2 < 0:
            raise ConfigError(f"stain augmentation sigmas must be >= 0, got {sigma1}, {sigma2}")
        self.sigma1 = float(sigma1)
        self.sigma2 = float(sigma2)
        self.augment_background = augment_background
        self.solver = check_solver(solver)
        self.lam = float(lam)
        self.stain_matrix: np.ndarray | None = None

    def fit_source(self, pixels: ImageLike) -> StainAugmentor:
        """Fix the stain matrix from a slide's (sampled tissue) pixels; StainFitError if it cannot."""
        self.stain_matrix = self.extractor.get_stain_matrix(to_numpy_pixels(pixels))
        return self

    def set_stain_matrix(self, stain_matrix: np.ndarray | None) -> None:
        """Fix the matrix directly (e.g. a normaliser's target matrix), or None for per-image fits."""
        self.stain_matrix = None if stain_matrix is None else order_and_normalise(stain_matrix)

    def draw(self, n: int, rng: RngLike = None) -> tuple[np.ndarray, np.ndarray]:
        """``alpha, beta`` of shape ``(n, 2)`` (H, E) for ``n`` images."""
        gen = np.random.default_rng(rng)
        alpha = gen.uniform(1 - self.sigma1, 1 + self.sigma1, size=(n, 2))
        beta = gen.uniform(-self.sigma2, self.sigma2, size=(n, 2))
        return alpha, beta

    def augment(self, images: ImageLike, rng: RngLike = None) -> ImageLike:
        """A new, augmented copy of uint8 RGB ``(H, W, 3)`` / ``(N, H, W, 3)`` (numpy or torch).

        ``rng`` is a Generator (advanced) or a seed; the same seed gives the same output.
        """
        batch = as_image_batch(images)
        alpha, beta = self.draw(batch.n_images, rng)
        if batch.pixels.shape[0] == 0:
            return batch.wrap(batch.pixels.clone())
        step = batch.pixels_per_image
        out = torch.empty_like(batch.pixels)
        if self.stain_matrix is not None:
            out.copy_(self._perturb(batch.pixels, self.stain_matrix, alpha, beta, step))
            return batch.wrap(out)
        for i, img in enumerate(batch.images()):
            part = out[i * step : (i + 1) * step]
            try:
                matrix = self.extractor.get_stain_matrix(img.cpu().numpy())
            except StainFitError:
                part.copy_(img)
                continue
            part.copy_(self._perturb(img, matrix, alpha[i : i + 1], beta[i : i + 1], step))
        return batch.wrap(out)

    __call__ = augment

    def _perturb(
        self, px: torch.Tensor, matrix: np.ndarray, alpha: np.ndarray, beta: np.ndarray, step: int
    ) -> torch.Tensor:
        """Perturb ``len(alpha)`` consecutive images of ``step`` pixels each, all at once."""
        dev = px.device
        b1, b2 = correlations(px, correlation_tables(matrix, dev))
        a1, a2 = ConcentrationSolver(matrix, self.solver, self.lam).solve_pair(b1, b2)
        al = torch.as_tensor(alpha, dtype=torch.float32, device=dev)
        be = torch.as_tensor(beta, dtype=torch.float32, device=dev)
        a1 = (a1.view(-1, step) * al[:, :1] + be[:, :1]).view(-1)
        a2 = (a2.view(-1, step) * al[:, 1:] + be[:, 1:]).view(-1)
        rows = torch.as_tensor(matrix, dtype=torch.float32, device=dev)
        out = render(a1, a2, rows)
        if not self.augment_background:
            tissue = luminosity_tissue_mask(px, self.extractor.luminosity_threshold)
            out = torch.where(tissue[:, None], out, px)
        return out
