"""Conflict-Aware Valid Pair Masking: each benign-collision rule on a hand-built catalog."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from quasid.data.catalog import Catalog
from quasid.data.interactions import Interactions
from quasid.errors import ConfigError, DataError
from quasid.qualify import masking
from quasid.qualify.masking import (
    DEFAULT_RULES,
    RULES,
    MaskConfig,
    MaskContext,
    cooccurrence,
    pair_cosine,
    principal_axes,
    valid_pair_mask,
    valid_pairs,
)

N = 10
# items 0,1: same text; 2,3: same group; 4,5: no content; 6,7: co-bought by two users;
# 8: a near-copy of item 0's embedding under another text; 9: an ordinary item.
TEXTS = ["red shoe", "red shoe", "lamp a", "lamp b", "", "", "mug", "cup", "red shoe v2", "desk"]
GROUPS = ["", "", "fam-1", "fam-1", "", "", "", "", "", ""]
SEQUENCES = [np.array([6, 7, 9]), np.array([7, 6]), np.array([9, 2])]
RULE_PAIR = {
    "near_duplicate": (0, 8),
    "same_content": (0, 1),
    "same_group": (2, 3),
    "missing": (4, 5),
    "co_interaction": (6, 7),
}


def make_catalog() -> Catalog:
    emb = np.eye(N, dtype=np.float32)
    emb[4] = emb[5] = 0.0  # missing features fall back to zeros
    emb[8] = emb[0] + 0.1 * emb[9]  # cos(x0, x8) = 1 / sqrt(1.01) ~ 0.995
    return Catalog(item_ids=np.arange(N), texts=TEXTS, group_keys=np.array(GROUPS), embeddings=emb)


@pytest.fixture(scope="module")
def context() -> MaskContext:
    return MaskContext.from_catalog(make_catalog(), SEQUENCES)


def all_pairs_mask(context: MaskContext, config: MaskConfig | None = None):
    idx = torch.arange(N)
    return valid_pair_mask(idx, torch.ones(N, N, dtype=torch.bool), context, config)


def test_context_lookups(context: MaskContext) -> None:
    assert context.content_ids[0] == context.content_ids[1] >= 0
    assert context.content_ids[4] == context.content_ids[5] == -1  # no content is not a shared key
    assert len(set(context.content_ids[[0, 2, 3, 6, 7, 8, 9]].tolist())) == 7
    assert context.group_ids[2] == context.group_ids[3] >= 0
    assert (context.group_ids[[0, 1, 4, 5, 6, 7, 8, 9]] == -1).all()
    assert context.missing.tolist() == [i in (4, 5) for i in range(N)]
    assert torch.allclose(context.content.norm(dim=-1)[[0, 8, 9]], torch.ones(3))
    co = context.co_count(torch.tensor([6, 7, 6, 7, 2, 0]), torch.tensor([7, 6, 9, 9, 9, 1]))
    assert co.tolist() == [2, 2, 1, 1, 1, 0]


def test_each_rule_fires_on_its_pair(context: MaskContext) -> None:
    mask, counts = all_pairs_mask(context)
    assert counts == {
        "candidates": 45,
        "same_item": 0,
        "near_duplicate": 1,
        "same_content": 1,
        "same_group": 1,
        "missing": 1,
        "co_interaction": 1,
        "collab_positive": 0,  # not built and off by default
        "valid": 40,
    }
    for a, b in RULE_PAIR.values():
        assert not mask[a, b] and not mask[b, a]
    assert not mask.diagonal().any()
    assert torch.equal(mask, mask.t())
    assert int(mask.triu(1).sum()) == 40
    assert mask[0, 9] and mask[4, 9] and mask[6, 9]  # one missing item alone is not benign


@pytest.mark.parametrize("rule", DEFAULT_RULES)
def test_switching_a_rule_off_revalidates_its_pair(context: MaskContext, rule: str) -> None:
    mask, counts = all_pairs_mask(context, MaskConfig(**{rule: False}))
    a, b = RULE_PAIR[rule]
    assert mask[a, b] and mask[b, a]
    assert counts[rule] == 0
    assert counts["valid"] == 41


def test_thresholds(context: MaskContext) -> None:
    _, counts = all_pairs_mask(context, MaskConfig(theta_dup=0.999))
    assert counts["near_duplicate"] == 0
    _, counts = all_pairs_mask(context, MaskConfig(theta_dup=0.0))  # cos >= 0 for every pair here
    assert counts["near_duplicate"] == 45
    _, counts = all_pairs_mask(context, MaskConfig(k_co=1))  # (6,7), (6,9), (7,9), (2,9)
    assert counts["co_interaction"] == 4
    _, counts = all_pairs_mask(context, MaskConfig(k_co=3))
    assert counts["co_interaction"] == 0


def test_only_candidates_are_judged(context: MaskContext) -> None:
    candidate = torch.zeros(N, N, dtype=torch.bool)
    candidate[0, 1] = candidate[0, 9] = True  # read as symmetric
    candidate[3, 3] = True  # the diagonal never counts
    mask, counts = valid_pair_mask(torch.arange(N), candidate, context)
    assert counts["candidates"] == 2 and counts["same_content"] == 1 and counts["valid"] == 1
    assert mask[0, 9] and mask[9, 0] and int(mask.sum()) == 2


def test_same_item_twice_is_masked_even_without_context() -> None:
    idx = torch.tensor([3, 5, 3])
    keep, counts = valid_pairs(idx, torch.tensor([0, 0, 1]), torch.tensor([1, 2, 2]))
    assert keep.tolist() == [True, False, True]
    assert counts["same_item"] == 1 and counts["valid"] == 2
    assert all(counts[rule] == 0 for rule in RULES)


def test_context_without_embeddings_or_groups() -> None:
    catalog = Catalog(item_ids=np.arange(4), texts=["a", "a", "b", ""])
    context = MaskContext.from_catalog(catalog)
    assert context.content is None and context.co_keys.numel() == 0
    mask, counts = valid_pair_mask(torch.arange(4), torch.ones(4, 4, dtype=torch.bool), context)
    assert counts["near_duplicate"] == counts["same_group"] == counts["co_interaction"] == 0
    assert counts["same_content"] == 1 and not mask[0, 1]


def test_interactions_and_sequences_build_the_same_context(context: MaskContext) -> None:
    from_log = MaskContext.from_catalog(make_catalog(), Interactions.from_sequences(SEQUENCES, n_items=N))
    assert torch.equal(from_log.co_keys, context.co_keys)
    assert torch.equal(from_log.co_counts, context.co_counts)
    with pytest.raises(DataError, match="items"):
        MaskContext.from_catalog(make_catalog(), Interactions.from_sequences(SEQUENCES, n_items=N + 1))


def test_cooccurrence_counts_users_not_visits() -> None:
    keys, counts = cooccurrence([np.array([6, 7, 6, 7]), np.array([7, 6])], n_items=10)
    assert keys.tolist() == [6 * 10 + 7] and counts.tolist() == [2]


def test_cooccurrence_window() -> None:
    keys, counts = cooccurrence([np.array([1, 2, 3])], n_items=4, window=1)
    assert keys.tolist() == [1 * 4 + 2, 2 * 4 + 3] and counts.tolist() == [1, 1]
    with pytest.raises(ConfigError, match="co_window"):
        cooccurrence([np.array([1, 2])], n_items=4, window=0)
    with pytest.raises(DataError, match="outside the catalog"):
        cooccurrence([np.array([1, 4])], n_items=4)


@pytest.mark.parametrize("window", [None, 2])
def test_cooccurrence_matches_brute_force_in_small_chunks(window: int | None, monkeypatch) -> None:
    monkeypatch.setattr(masking, "_CO_CHUNK", 5)  # many chunks to merge
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 12, size=rng.integers(0, 9)) for _ in range(40)]
    expected: dict[int, int] = {}
    for seq in sequences:
        distinct = list(dict.fromkeys(seq.tolist()))
        pairs = set()
        for p, q in itertools.combinations(range(len(distinct)), 2):
            if window is None or q - p <= window:
                a, b = sorted((distinct[p], distinct[q]))
                pairs.add(a * 12 + b)
        for key in pairs:
            expected[key] = expected.get(key, 0) + 1
    keys, counts = cooccurrence(sequences, n_items=12, window=window)
    assert dict(zip(keys.tolist(), counts.tolist(), strict=True)) == expected
    assert np.all(np.diff(keys) > 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"theta_dup": 1.5}, "theta_dup"),
        ({"theta_dup": "high"}, "theta_dup"),
        ({"k_co": 0}, "k_co"),
        ({"k_co": 2.5}, "k_co"),
        ({"near_duplicate": "yes"}, "near_duplicate"),
        ({"missing": 1}, "missing"),
    ],
)
def test_mask_config_is_validated(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"MaskConfig.{field}"):
        MaskConfig(**kwargs)


@pytest.mark.parametrize("path", ["gather", "gather_chunked", "gram_blocks"])
def test_pair_cosine_paths_agree(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(7, 5, generator=g)
    vectors[3] = 0.0  # a zero row has cosine 0 with everything
    i, j = torch.triu_indices(7, 7, 1)
    shuffle = torch.randperm(i.numel(), generator=g)
    i, j = i[shuffle], j[shuffle]  # the blocked Gram path must not rely on sorted pairs
    expected = torch.nn.functional.cosine_similarity(vectors[i], vectors[j], dim=-1)
    if path == "gram_blocks":
        monkeypatch.setattr(masking, "DENSE_COSINE_FRACTION", 10**6)
        monkeypatch.setattr(masking, "_GRAM_BLOCK", 14)  # two rows per block
    else:
        monkeypatch.setattr(masking, "DENSE_COSINE_FRACTION", 0)
        monkeypatch.setattr(masking, "_GATHER_CHUNK", 4 if path == "gather_chunked" else 1 << 14)
    assert torch.allclose(pair_cosine(vectors, i, j), expected, atol=1e-6)
    leaf = vectors.clone().requires_grad_()
    (grad,) = torch.autograd.grad(pair_cosine(leaf, i, j).pow(2).sum(), leaf)
    ref_leaf = vectors.clone().requires_grad_()
    ref = torch.nn.functional.cosine_similarity(ref_leaf[i], ref_leaf[j], dim=-1, eps=1e-12)
    (ref_grad,) = torch.autograd.grad(ref.pow(2).sum(), ref_leaf)
    assert torch.allclose(grad, ref_grad, atol=1e-5)


@pytest.mark.parametrize("theta", [0.3, 0.9, 0.98, 0.999])
def test_near_duplicate_rule_is_exact(theta: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(masking, "NEAR_DUP_HEAD_DIMS", 3)  # most pairs settled on 3 of 20 coordinates
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((60, 20)).astype(np.float32)
    emb[30:45] = emb[:15] + rng.uniform(0.01, 0.4, size=(15, 1)) * rng.standard_normal((15, 20))
    emb[59] = 0.0
    context = MaskContext.from_catalog(Catalog(item_ids=np.arange(60), embeddings=emb))
    unit = torch.nn.functional.normalize(torch.from_numpy(emb), dim=-1)
    assert context.content_head.shape == (60, 3)
    assert (context.content_head.norm(dim=-1) <= context.content.norm(dim=-1) + 1e-6).all()
    idx = torch.from_numpy(rng.permutation(60))
    candidate = torch.ones(60, 60, dtype=torch.bool)
    mask, counts = valid_pair_mask(idx, candidate, context, MaskConfig(theta_dup=theta, missing=False))
    cos = unit[idx] @ unit[idx].t()
    expected = torch.triu(cos >= theta, diagonal=1)
    assert counts["near_duplicate"] == int(expected.sum()) > 0
    assert not (mask & (expected | expected.t())).any()


def test_principal_axes_are_orthonormal_and_find_the_spread() -> None:
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(500, 12, generator=g) * torch.tensor([5.0, 4.0, 3.0] + [0.1] * 9)
    axes = principal_axes(rows, k=3)
    assert axes.shape == (12, 3)
    assert torch.allclose(axes.t() @ axes, torch.eye(3), atol=1e-5)
    assert (axes[:3].pow(2).sum(dim=0) > 0.99).all()  # the three high-variance coordinates
    assert torch.equal(principal_axes(rows, k=3), axes)  # deterministic
    assert torch.equal(principal_axes(rows, k=20), torch.eye(12))


def test_collab_positive_masks_the_ppmi_positives_and_only_them() -> None:
    # window 1: only neighbours co-occur: (6, 7) twice, (7, 9) and (9, 2) once; all above chance here
    context = MaskContext.from_catalog(make_catalog(), SEQUENCES, collab_window=1)
    only = MaskConfig(**{rule: rule == "collab_positive" for rule in RULES})
    mask, counts = all_pairs_mask(context, only)
    fired = {(a, b) for a, b in itertools.combinations(range(N), 2) if not mask[a, b]}
    assert fired == {(6, 7), (7, 9), (2, 9)}  # (6, 9) share a history but are two positions apart
    assert counts["collab_positive"] == 3 and counts["valid"] == 42
    _, default_counts = all_pairs_mask(context)  # the default config leaves the rule off
    assert default_counts["collab_positive"] == 0 and default_counts["valid"] == 40
    unbuilt = MaskContext.from_catalog(make_catalog(), SEQUENCES)  # no collab_window: nothing to fire on
    assert all_pairs_mask(unbuilt, only)[1]["collab_positive"] == 0
