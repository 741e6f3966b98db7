"""k-means for codebook initialisation and RQ-KMeans, on faiss (fast, deterministic by seed)."""

from __future__ import annotations

import faiss
import numpy as np

from quasid.errors import ConfigError


def kmeans(
    x: np.ndarray,
    k: int,
    n_iter: int = 20,
    seed: int = 0,
    max_points_per_centroid: int = 256,
) -> np.ndarray:
    """Cluster rows of ``x`` into ``k`` centroids; returns ``[k, d]`` float32.

    faiss subsamples to ``k * max_points_per_centroid`` points, which keeps init
    cost bounded on large catalogs. When there are fewer distinct points than
    ``k`` the surplus centroids are duplicates of real points (they become dead
    codes that re-seeding or the caller can handle) rather than an error.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if k < 1:
        raise ConfigError(f"k-means needs k >= 1 clusters, got {k}")
    if n == 0:
        raise ConfigError("k-means got no points")
    if n < k:
        rng = np.random.default_rng(seed)
        extra = x[rng.integers(0, n, size=k - n)]
        return np.concatenate([x, extra], axis=0)
    km = faiss.Kmeans(
        d,
        k,
        niter=n_iter,
        seed=seed,
        verbose=False,
        max_points_per_centroid=max_points_per_centroid,
        min_points_per_centroid=1,
    )
    km.train(x)
    return np.asarray(km.centroids, dtype=np.float32).reshape(k, d)


def nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (L2) for each row of ``x``; exact, via faiss flat search."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    _, idx = index.search(x, 1)
    return idx[:, 0].astype(np.int64)
