"""Attribute-id embeddings (tf-idf + truncated SVD) for catalogs without text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError
from quasid.features import attribute_embeddings, embed_attributes
from quasid.features.attributes import attribute_matrix

ATTRS = [[1, 2], [2, 1], [3], [], [1, 2, 3], [4, 5], [5], [1, 4]]


def _catalog(attrs: list[list[int]] = ATTRS) -> Catalog:
    return Catalog(item_ids=[str(i) for i in range(len(attrs))], attributes=attrs, name="toys")


def test_shape_norms_and_zero_rows() -> None:
    emb = attribute_embeddings(_catalog(), dim=3)
    assert emb.shape == (8, 3) and emb.dtype == np.float32
    norms = np.linalg.norm(emb, axis=1)
    assert norms[3] == 0.0  # no attributes -> zero row
    np.testing.assert_allclose(np.delete(norms, 3), 1.0, atol=1e-5)


def test_identical_attribute_sets_identical_vectors() -> None:
    emb = attribute_embeddings(_catalog(), dim=3)
    assert np.array_equal(emb[0], emb[1])  # {1, 2} given in two orders
    assert not np.allclose(emb[0], emb[2])


def test_deterministic() -> None:
    a = attribute_embeddings(_catalog(), dim=3, seed=0)
    b = attribute_embeddings(_catalog(), dim=3, seed=0)
    assert np.array_equal(a, b)


def test_dim_capped_below_attribute_count() -> None:
    # 5 attributes: a rank-k SVD keeps at most 4 components
    assert attribute_embeddings(_catalog(), dim=64).shape == (8, 4)
    one = attribute_embeddings(_catalog([[7], [], [7]]), dim=8)
    assert one.shape == (3, 1) and one[:, 0].tolist() == [1.0, 0.0, 1.0]


def test_similar_sets_are_close() -> None:
    emb = attribute_embeddings(_catalog(), dim=4)
    cos = emb @ emb.T
    assert cos[0, 4] > cos[0, 5]  # {1,2} is nearer {1,2,3} than {4,5}


def test_weighting_and_min_count() -> None:
    x, cols = attribute_matrix(_catalog(), weighting="binary")
    assert cols.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(x.toarray()[0], [2**-0.5, 2**-0.5, 0, 0, 0])
    x, _ = attribute_matrix(_catalog([[1, 1, 1, 2], [2], [2, 1]]), weighting="idf")
    dense = x.toarray()
    assert dense[0, 0] > dense[0, 1] > 0  # the rarer attribute weighs more
    assert np.array_equal(dense[0], dense[2])  # a set: the repeated id counts once
    # attribute 3 is on 2 items: min_count=3 drops it, so item 2 has no content left
    out = embed_attributes(_catalog(), dim=2, min_count=3)
    assert out.missing is not None
    assert out.missing.tolist() == [False, False, True, True, False, True, True, False]


def test_embed_attributes_fills_catalog() -> None:
    cat = _catalog()
    out = embed_attributes(cat, dim=3)
    assert out.embeddings is not None and out.embeddings.shape == (8, 3)
    assert out.missing is not None and np.flatnonzero(out.missing).tolist() == [3]
    assert cat.embeddings is None


def test_many_attributes_uses_seeded_truncated_svd() -> None:
    rng = np.random.default_rng(0)
    attrs = [sorted(set(rng.integers(0, 2000, size=6).tolist())) for _ in range(4000)]
    cat = _catalog(attrs)
    a = attribute_embeddings(cat, dim=16, seed=3)
    assert a.shape == (4000, 16)
    assert np.array_equal(a, attribute_embeddings(cat, dim=16, seed=3))


def test_synthetic_subtopics_collapse() -> None:
    from quasid.data.synthetic import make_synthetic

    cat = make_synthetic(n_items=300, n_users=5, seed=1).catalog
    emb = attribute_embeddings(cat, dim=16)
    sub = np.array([a[1] if a else -1 for a in cat.attributes or []])
    i, j = np.flatnonzero(sub == sub[~cat.missing][0])[:2]
    assert np.array_equal(emb[i], emb[j])  # identical attribute sets: a benign collision
    assert not emb[cat.missing].any()


def test_errors() -> None:
    with pytest.raises(DataError, match=r"catalog 'shop' has no attributes.*text"):
        attribute_embeddings(Catalog(item_ids=["a"], texts=["x"], name="shop"))
    with pytest.raises(DataError, match="every one is empty"):
        attribute_embeddings(_catalog([[], []]))
    with pytest.raises(DataError, match="min_count"):
        attribute_embeddings(_catalog(), min_count=10)
    with pytest.raises(ConfigError, match="weighting"):
        attribute_embeddings(_catalog(), weighting="bm25")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dim"):
        attribute_embeddings(_catalog(), dim=0)
    with pytest.raises(ConfigError, match="min_count"):
        attribute_embeddings(_catalog(), min_count=0)


@pytest.mark.integration
def test_amazon_toys(shared_data: Path) -> None:
    raw = json.loads((shared_data / "amazon-toys" / "item_attributes.json").read_text())
    ids = sorted(raw, key=int)
    cat = Catalog(item_ids=ids, attributes=[raw[i] for i in ids], name="amazon-toys")
    emb = attribute_embeddings(cat, dim=64)
    assert emb.shape == (len(ids), 64)
    first: dict[tuple[int, ...], int] = {}
    for row, attrs in enumerate(cat.attributes or []):
        key = tuple(sorted(set(attrs)))
        if key in first:
            assert np.array_equal(emb[row], emb[first[key]])
        first.setdefault(key, row)
