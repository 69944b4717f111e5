"""The distance space of the electrode model: standardised features reduced by PCA.

It serves three purposes: the kNN target-encoding features (what did the nearest electrodes of
other hosts do?), the in-domain check and the nearest known electrode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass
class DistanceSpace:
    """Standardisation (train mean and spread) followed by a PCA projection."""

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    pca_mean: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, n_components: int, seed: int = 0) -> DistanceSpace:
        """Fit on a training feature matrix (a missing value counts as the column mean)."""
        import numpy as np
        from sklearn.decomposition import PCA

        mean = np.nanmean(X, axis=0)
        mean = np.where(np.isnan(mean), 0.0, mean)
        Z = np.where(np.isnan(X), mean, X)
        scale = Z.std(axis=0)
        scale[scale < 1e-12] = 1.0
        Z = (Z - mean) / scale
        pca = PCA(min(n_components, Z.shape[1], Z.shape[0]), random_state=seed).fit(Z)
        return cls(mean=mean, scale=scale, components=pca.components_, pca_mean=pca.mean_)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project features into the space."""
        import numpy as np

        Z = np.where(np.isnan(X), self.mean, X)
        Z = (Z - self.mean) / self.scale
        return np.asarray((Z - self.pca_mean) @ self.components.T)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready arrays."""
        return {k: getattr(self, k).tolist() for k in ("mean", "scale", "components", "pca_mean")}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> DistanceSpace:
        """Inverse of to_dict."""
        import numpy as np

        return cls(**{k: np.asarray(payload[k], dtype=float) for k in ("mean", "scale", "components", "pca_mean")})


def knn_encode(Z_train: np.ndarray, y_train: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """kNN target-encoding features of training rows: [mean of the k nearest targets, nearest target, nearest distance].

    A training row sees only neighbours of other hosts, so the feature never holds its own
    label or its host's labels (no leakage under host-grouped validation).
    """
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(len(Z_train), k + 60)).fit(Z_train)
    dist, idx = nn.kneighbors(Z_train)
    out = np.zeros((len(Z_train), 3))
    for r in range(len(Z_train)):
        other = groups[idx[r]] != groups[r]
        near, near_d = idx[r][other][:k], dist[r][other][:k]
        if len(near) == 0:  # only in tiny tables: every neighbour is of the same host
            out[r] = [y_train.mean(), y_train.mean(), dist[r].max()]
        else:
            out[r] = [y_train[near].mean(), y_train[near[0]], near_d[0]]
    return out


def knn_query(Z_train: np.ndarray, y_train: np.ndarray, Z_query: np.ndarray, k: int) -> np.ndarray:
    """kNN target-encoding features of new electrodes against every training row (see knn_encode)."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(Z_train))).fit(Z_train)
    dist, idx = nn.kneighbors(Z_query)
    return np.c_[y_train[idx].mean(axis=1), y_train[idx[:, 0]], dist[:, 0]]
