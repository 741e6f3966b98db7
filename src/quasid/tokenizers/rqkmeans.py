"""RQ-KMeans: residual k-means on the raw content embeddings (no training loop).

The strongest cheap baseline: level l clusters the residuals left by levels < l.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from quasid.data.dataset import Dataset
from quasid.errors import ConfigError
from quasid.progress import advance, progress_bar
from quasid.quantize.kmeans import kmeans, nearest
from quasid.tokenizers.base import SIDTokenizer, TokenizerConfig


@dataclass
class RQKMeansConfig(TokenizerConfig):
    n_iter: int = 25  # Lloyd iterations per level
    max_points_per_centroid: int = 256  # faiss subsampling cap for each level's k-means
    normalize: bool = False  # L2-normalise embeddings first (cosine geometry)

    def validate(self, n_items: int | None = None) -> None:
        super().validate(n_items)
        if self.n_iter < 1:
            raise ConfigError(f"n_iter must be >= 1, got {self.n_iter}")


class RQKMeans(SIDTokenizer):
    """Residual k-means: L levels x K centroids fitted level by level with faiss."""

    method = "rqkmeans"
    config_class = RQKMeansConfig
    config: RQKMeansConfig

    def __init__(self, config: RQKMeansConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.codebooks_: np.ndarray | None = None  # [L, K, D]

    def _prep(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.config.normalize:
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def _fit(self, x: np.ndarray, dataset: Dataset, progress: bool, **kwargs: Any) -> None:
        cfg = self.config
        r = self._prep(x).copy()
        books = []
        with progress_bar(cfg.n_levels, "rq-kmeans levels", progress) as bar:
            for level in range(cfg.n_levels):
                cent = kmeans(r, cfg.codebook_size, cfg.n_iter, cfg.seed + level, cfg.max_points_per_centroid)
                r -= cent[nearest(r, cent)]
                books.append(cent)
                err = float((r**2).sum(1).mean())
                self.history_.append({"level": level, "residual_mse": err})
                advance(bar, f"residual {err:.4f}")
        self.codebooks_ = np.stack(books)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        assert self.codebooks_ is not None
        r = self._prep(x).copy()
        codes = np.empty((len(r), self.config.n_levels), dtype=np.int64)
        for level, cent in enumerate(self.codebooks_):
            codes[:, level] = nearest(r, cent)
            r -= cent[codes[:, level]]
        return codes

    def _state(self) -> dict[str, Any]:
        return {"codebooks": self.codebooks_}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.codebooks_ = np.asarray(state["codebooks"], dtype=np.float32)
