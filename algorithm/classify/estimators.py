"""Small scikit-learn estimators the slide models need that scikit-learn lacks.

They live in the algorithm package (not in training) because a saved model
refers to them by import path when it is loaded in the container.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin


class FeatureValue(RegressorMixin, BaseEstimator):
    """Predicts one input column as it is: "the measured major axis is the answer".

    Cross-validated beside learnt regressors, it keeps a regressor from being
    chosen unless it beats the plain measurement.
    """

    def __init__(self, column: int = 0) -> None:
        self.column = column

    def fit(self, X: ArrayLike, y: Any = None) -> FeatureValue:  # X, capitalised: scikit-learn's naming
        """Nothing to learn: records the number of columns, as scikit-learn's checks expect."""
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The chosen column of ``X``, as float64."""
        return np.asarray(X, dtype=np.float64)[:, self.column]
