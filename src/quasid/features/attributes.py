"""Content vectors from attribute ids alone (brand, category path, tags), no text needed.

Several standard benchmarks (amazon-toys, amazon-sports, lastfm) give each item
a list of attribute ids whose names were never published, so there is nothing
to read. The item x attribute matrix still says which items are alike: weight
it tf-idf style (rare attributes say more than "Toys & Games"), reduce it by
truncated SVD (latent semantic analysis) and L2-normalise the rows. Items with
identical attribute sets get identical vectors, which is exactly the benign
collision a content-only tokenizer cannot avoid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError

if TYPE_CHECKING:
    import scipy.sparse as sp

Weighting = Literal["idf", "binary"]

# Up to this many attribute columns the SVD is an exact dense eigendecomposition of
# the (columns x columns) Gram matrix: deterministic, well under a second. Beyond it,
# ARPACK's truncated SVD with a seeded start vector (faster for amazon-sports' 2,277).
_DENSE_MAX_ATTRS = 1500


def attribute_matrix(
    catalog: Catalog, min_count: int = 1, weighting: Weighting = "idf"
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Weighted, row-normalised item x attribute matrix and the attribute id of each column.

    Each item's attributes are a *set* (an id repeated in one item's list counts
    once), the same reading as ``Catalog.content_keys``: items the catalog calls
    identical content get identical rows. ``weighting="idf"``: multi-hot x smooth
    idf ``ln((1 + n) / (1 + df)) + 1`` (rare attributes say more than "Toys &
    Games"); ``"binary"``: plain multi-hot. Rows are L2-normalised. Attributes on
    fewer than ``min_count`` items are dropped.
    """
    import scipy.sparse as sp  # here: importing quasid.features stays cheap

    if catalog.attributes is None:
        raise DataError(
            f"catalog '{catalog.name}' has no attributes: use text embeddings "
            "(quasid.features.embed_catalog) or give embeddings"
        )
    if weighting not in ("idf", "binary"):
        raise ConfigError(f"weighting must be 'idf' or 'binary', got {weighting!r}")
    if min_count < 1:
        raise ConfigError(f"min_count must be >= 1, got {min_count}")
    n = catalog.n_items
    lengths = np.fromiter((len(a) for a in catalog.attributes), dtype=np.int64, count=n)
    if lengths.sum() == 0:
        raise DataError(
            f"catalog '{catalog.name}' has attribute lists but every one is empty: "
            "there is no content to embed"
        )
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    try:
        ids = np.fromiter((int(a) for attrs in catalog.attributes for a in attrs), dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"catalog '{catalog.name}': attribute ids must be integers ({exc})") from None
    col_ids, cols = np.unique(ids, return_inverse=True)
    counts = sp.csr_matrix((np.ones(len(ids), dtype=np.float64), (rows, cols)), shape=(n, len(col_ids)))
    counts.sum_duplicates()
    counts.sort_indices()
    df = np.diff(counts.tocsc().indptr)
    keep = np.flatnonzero(df >= min_count)
    if len(keep) == 0:
        raise DataError(
            f"catalog '{catalog.name}': no attribute is on min_count={min_count} or more items; "
            "lower min_count"
        )
    counts = counts[:, keep].tocsr()
    col_ids, df = col_ids[keep], df[keep]
    x = counts.copy()
    x.data[:] = 1.0  # a set: duplicates within an item count once
    if weighting == "idf":
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        x = (x @ sp.diags(idf)).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    x = (sp.diags(scale) @ x).tocsr()
    x.sort_indices()
    return x, col_ids


def attribute_embeddings(
    catalog: Catalog,
    dim: int = 64,
    seed: int = 0,
    min_count: int = 1,
    weighting: Weighting = "idf",
) -> np.ndarray:
    """``float32 [n_items, k]`` LSA vectors of the catalog's attribute sets, rows L2-normalised.

    ``k = dim``, except that a rank-``k`` SVD needs ``k < n_attributes`` (and
    ``< n_items``): when ``dim`` is not smaller, ``k = min(dim, n_attributes - 1,
    n_items - 1)`` and the result has fewer columns than asked (with a single
    attribute, the one weighted column itself). Items with no (kept) attributes
    get a zero row. Up to 1,500 attributes the SVD is exact and ``seed`` has no
    effect; beyond, ARPACK starts from a vector drawn with ``seed``. Component
    signs are fixed (largest loading positive), so results are reproducible.
    """
    if dim < 1:
        raise ConfigError(f"dim must be >= 1, got {dim}")
    x, _ = attribute_matrix(catalog, min_count=min_count, weighting=weighting)
    n, a = x.shape
    k = min(dim, a - 1, n - 1)
    if k < 1:  # one attribute (or one item): nothing to reduce
        return np.ascontiguousarray(x.toarray(), dtype=np.float32)
    if a <= _DENSE_MAX_ATTRS:
        gram = (x.T @ x).toarray()
        _, evecs = np.linalg.eigh(gram)  # eigenvalues ascending
        basis = evecs[:, ::-1][:, :k]
    else:
        from scipy.sparse.linalg import svds

        v0 = np.random.default_rng(seed).standard_normal(min(n, a))
        _, s, vt = svds(x, k=k, v0=v0, solver="arpack")
        basis = vt[np.argsort(-s)].T
    # a component's sign is arbitrary: make its largest loading positive
    pivot = np.argmax(np.abs(basis), axis=0)
    basis = basis * np.sign(basis[pivot, np.arange(k)])
    emb = np.asarray(x @ basis)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    np.divide(emb, norms, out=emb, where=norms > 1e-12)
    emb[norms[:, 0] <= 1e-12] = 0.0
    return np.ascontiguousarray(emb, dtype=np.float32)


def embed_attributes(catalog: Catalog, **kwargs: Any) -> Catalog:
    """A copy of ``catalog`` with attribute embeddings; ``missing`` = items with a zero row.

    ``kwargs`` go to :func:`attribute_embeddings`.
    """
    emb = attribute_embeddings(catalog, **kwargs)
    missing = ~np.any(emb != 0, axis=1)
    return replace(catalog, embeddings=emb, missing=missing)
