"""The built-in synthetic dataset carries the structure QuaSID is about."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from quasid.data.dataset import Dataset
from quasid.data.synthetic import make_synthetic
from quasid.errors import ConfigError


@pytest.fixture(scope="module")
def data() -> Dataset:
    return make_synthetic()


def _groups(keys: np.ndarray) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(keys):
        if g:
            out[g].append(i)
    return out


def test_deterministic_by_seed() -> None:
    a, b, c = make_synthetic(seed=3), make_synthetic(seed=3), make_synthetic(seed=4)
    assert np.array_equal(a.catalog.embeddings, b.catalog.embeddings)
    assert a.catalog.texts == b.catalog.texts
    assert np.array_equal(a.catalog.group_keys, b.catalog.group_keys)
    assert np.array_equal(a.catalog.missing, b.catalog.missing)
    assert a.interactions is not None and b.interactions is not None and c.interactions is not None
    assert np.array_equal(a.interactions.users, b.interactions.users)
    assert np.array_equal(a.interactions.items, b.interactions.items)
    assert not np.array_equal(a.catalog.embeddings, c.catalog.embeddings)


def test_shapes_and_ids(data: Dataset) -> None:
    cat = data.catalog
    assert cat.name == "synthetic" and cat.n_items == 2000
    assert cat.item_ids.tolist() == [str(i) for i in range(1, 2001)]
    assert cat.embeddings is not None and cat.embeddings.shape == (2000, 64)
    assert cat.embeddings.dtype == np.float32
    assert data.interactions is not None and data.interactions.n_users == 1500
    norms = np.linalg.norm(cat.embeddings[~cat.missing], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_hierarchical_clusters(data: Dataset) -> None:
    cat = data.catalog
    ok = ~cat.missing & (cat.group_keys == "")
    emb = cat.embeddings[ok]
    topic = np.array([a[0] for a in np.asarray(cat.attributes, dtype=object)[ok]])
    sub = np.array([a[1] for a in np.asarray(cat.attributes, dtype=object)[ok]])
    cos = emb @ emb.T
    off = ~np.eye(len(emb), dtype=bool)
    same_sub = (sub[:, None] == sub[None, :]) & off
    same_topic = (topic[:, None] == topic[None, :]) & ~same_sub & off
    other = topic[:, None] != topic[None, :]
    assert cos[same_sub].mean() > cos[same_topic].mean() + 0.15 > cos[other].mean() + 0.3


def test_variant_groups_are_benign_collisions(data: Dataset) -> None:
    cat = data.catalog
    groups = _groups(cat.group_keys)
    assert groups and all(2 <= len(m) <= 4 for m in groups.values())
    n_variants = sum(len(m) for m in groups.values())
    assert abs(n_variants - 0.2 * cat.n_items) <= 1
    for members in groups.values():
        assert len({cat.texts[i] for i in members}) == 1
        vecs = cat.embeddings[members]
        assert (vecs @ vecs.T).min() >= 0.99
    # outside the groups, every item with content has its own text
    single = [t for t, g, m in zip(cat.texts, cat.group_keys, cat.missing, strict=True) if not g and not m]
    assert len(set(single)) == len(single)
    assert all(t.startswith("topic ") and " / subtopic " in t and " / item " in t for t in single[:50])


def test_missing_items(data: Dataset) -> None:
    cat = data.catalog
    miss = np.flatnonzero(cat.missing)
    assert len(miss) == round(0.03 * cat.n_items)
    assert not cat.embeddings[miss].any()
    assert all(cat.texts[i] == "" and cat.group_keys[i] == "" and cat.attributes[i] == [] for i in miss)
    assert np.array_equal(cat.missing_mask(), cat.missing)


def test_sequences(data: Dataset) -> None:
    inter = data.interactions
    assert inter is not None
    seqs = inter.sequences()
    assert len(seqs) == 1500
    assert all(5 <= len(s) <= 30 for s in seqs)
    assert all(len(set(s.tolist())) == len(s) for s in seqs)  # no repeats in a history
    assert inter.items.min() >= 0 and inter.items.max() < data.catalog.n_items
    # sequential continuity: consecutive items share a subtopic far above chance (1/48)
    sub = np.array([a[1] if a else -1 for a in data.catalog.attributes])
    pairs = np.concatenate([sub[s[:-1]] == sub[s[1:]] for s in seqs])
    assert pairs.mean() > 0.4
    # Zipf-like popularity: the top 5% of items take far more than 5% of events
    counts = np.sort(inter.item_counts())[::-1]
    assert counts[: len(counts) // 20].sum() > 0.15 * counts.sum()


def test_hidden_collaborative_signal_separates_variants(data: Dataset) -> None:
    inter, cat = data.interactions, data.catalog
    assert inter is not None
    users: dict[int, set[int]] = defaultdict(set)
    for u, i in zip(inter.users.tolist(), inter.items.tolist(), strict=True):
        users[i].add(u)
    jaccard, ratio = [], []
    counts = inter.item_counts()
    for members in _groups(cat.group_keys).values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                ua, ub = users[members[a]], users[members[b]]
                if ua and ub:
                    jaccard.append(len(ua & ub) / len(ua | ub))
                lo, hi = sorted([counts[members[a]], counts[members[b]]])
                ratio.append((hi + 1) / (lo + 1))
    # identical content, yet different audiences and popularity
    assert np.mean(jaccard) < 0.1
    assert np.median(ratio) > 1.3


def test_options() -> None:
    d = make_synthetic(
        n_items=40,
        n_users=7,
        dim=8,
        n_topics=2,
        n_subtopics=2,
        variant_frac=0.0,
        missing_frac=0.0,
        min_len=3,
        max_len=40,
        seed=1,
    )
    assert not (d.catalog.group_keys != "").any() and not d.catalog.missing.any()
    assert d.catalog.embeddings.shape == (40, 8)
    assert all(3 <= len(s) <= 40 for s in d.interactions.sequences())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_items": 1}, "n_items"),
        ({"variant_frac": 1.5}, "variant_frac"),
        ({"missing_frac": 0.6, "variant_frac": 0.6}, "variant_frac"),
        ({"min_len": 10, "max_len": 5}, "min_len"),
        ({"n_items": 20, "max_len": 30}, "max_len"),
    ],
)
def test_invalid_options(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_synthetic(**kwargs)  # type: ignore[arg-type]
