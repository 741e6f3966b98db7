"""Full-ranking metrics: hand-checked values, the tie rule, and rank_of_targets against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from quasid.rec.metrics import (
    Ranks,
    ndcg_at_k,
    per_event_metrics,
    rank_of_targets,
    ranking_metrics,
    recall_at_k,
)


def test_hand_cases_and_k_boundaries() -> None:
    ranks = [0, 4, 5, 9, 10]  # rank 4 is the last hit @5, rank 9 the last hit @10
    assert recall_at_k(ranks, 5) == pytest.approx(2 / 5)
    assert recall_at_k(ranks, 10) == pytest.approx(4 / 5)
    assert ndcg_at_k(ranks, 5) == pytest.approx((1 + 1 / math.log2(6)) / 5)
    assert ndcg_at_k(ranks, 10) == pytest.approx(
        (1 + 1 / math.log2(6) + 1 / math.log2(7) + 1 / math.log2(11)) / 5
    )
    assert recall_at_k([0], 1) == 1.0 and ndcg_at_k([0], 1) == 1.0
    assert recall_at_k([1], 1) == 0.0 and ndcg_at_k([1], 1) == 0.0
    m = ranking_metrics(np.array(ranks), ks=(5, 10))
    assert set(m) == {"recall@5", "ndcg@5", "recall@10", "ndcg@10"}
    assert m["recall@10"] == pytest.approx(0.8)


def test_unranked_targets_are_misses() -> None:
    assert recall_at_k([math.inf, 0], 10) == 0.5
    assert ndcg_at_k(torch.tensor([math.inf, 0.0]), 10) == 0.5


def test_ties_are_the_expectation_of_a_random_tie_break() -> None:
    # target and one twin straddle the K=10 boundary: the hit is a coin flip
    assert recall_at_k([9], 10, ties=[1]) == pytest.approx(0.5)
    assert ndcg_at_k([9], 10, ties=[1]) == pytest.approx(0.5 / math.log2(11))
    # two items tied at the top: rank 0 or 1 with equal chance
    r = Ranks(np.array([0.0]), np.array([1]))
    assert recall_at_k(r, 1) == pytest.approx(0.5)
    assert ndcg_at_k(r, 2) == pytest.approx((1 + 1 / math.log2(3)) / 2)
    # the mid-rank h + t/2 would have scored the first case a full hit: it must not
    assert recall_at_k([9], 10, ties=[1]) < recall_at_k([9], 10)


def test_a_constant_model_gets_random_figures_not_perfect_ones() -> None:
    n = 1000
    scores = torch.zeros(4, n)  # every item scored the same
    ranks = rank_of_targets(scores, torch.tensor([0, 17, 500, 999]))
    m = ranking_metrics(ranks)
    assert m["recall@10"] == pytest.approx(10 / n)
    assert m["recall@5"] == pytest.approx(5 / n)
    assert m["ndcg@10"] == pytest.approx(sum(1 / math.log2(r + 2) for r in range(10)) / n)


def test_expected_metrics_match_simulated_random_tie_breaks() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(6, 30)).astype(np.float32)  # many ties
    targets = rng.integers(0, 30, size=6)
    exact = per_event_metrics(rank_of_targets(torch.from_numpy(scores), torch.from_numpy(targets)), ks=(5,))
    sims = {"recall@5": np.zeros(6), "ndcg@5": np.zeros(6)}
    n_sim = 4000
    for _ in range(n_sim):
        tie_break = rng.random(scores.shape)
        order = np.lexsort((tie_break, -scores), axis=1)  # by score desc, then a random tie-break
        rank = np.argmax(order == targets[:, None], axis=1)
        sims["recall@5"] += rank < 5
        sims["ndcg@5"] += np.where(rank < 5, 1 / np.log2(rank + 2), 0.0)
    for key, total in sims.items():
        np.testing.assert_allclose(exact[key], total / n_sim, atol=0.03)


def _brute_force(scores: np.ndarray, target: int, keep: np.ndarray) -> tuple[int, int]:
    """(higher, ties) by sorting the kept candidates' scores."""
    cand = np.sort(scores[keep | (np.arange(len(scores)) == target)])[::-1]
    s = scores[target]
    first = int(np.flatnonzero(cand == s)[0])
    last = int(np.flatnonzero(cand == s)[-1])
    return first, last - first


@pytest.mark.parametrize("with_exclude", [False, True])
def test_rank_of_targets_matches_brute_force_sort(with_exclude: bool) -> None:
    rng = np.random.default_rng(1)
    B, N = 40, 25
    scores = rng.integers(0, 8, size=(B, N)).astype(np.float32)
    targets = rng.integers(0, N, size=B)
    exclude = rng.random((B, N)) < 0.3 if with_exclude else np.zeros((B, N), bool)
    exclude[np.arange(B), targets] |= with_exclude  # an excluded target still counts as itself
    ranks = rank_of_targets(
        torch.from_numpy(scores),
        torch.from_numpy(targets),
        torch.from_numpy(exclude) if with_exclude else None,
    )
    for i in range(B):
        assert (ranks.higher[i], ranks.ties[i]) == _brute_force(scores[i], targets[i], ~exclude[i])


def test_exclude_one_column_for_every_row() -> None:
    scores = torch.tensor([[5.0, 1.0, 3.0], [5.0, 9.0, 3.0]])
    pad = torch.tensor([True, False, False])  # column 0 is padding
    ranks = rank_of_targets(scores, torch.tensor([2, 2]), pad)
    assert ranks.higher.tolist() == [0, 1]
    assert rank_of_targets(scores, torch.tensor([2, 2])).higher.tolist() == [1, 2]


def test_nan_scores_are_refused() -> None:
    scores = torch.tensor([[float("nan"), 1.0, 2.0]])
    with pytest.raises(ValueError, match="NaN"):
        rank_of_targets(scores, torch.tensor([0]))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="k must"):
        recall_at_k([0], 0)
    with pytest.raises(ValueError, match=">= 0"):
        ndcg_at_k([-1], 5)
    with pytest.raises(ValueError, match="targets"):
        rank_of_targets(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_cat_mixes_plain_ranks_and_ranks_with_ties() -> None:
    r = Ranks.cat([np.array([0, 3]), Ranks(np.array([9.0]), np.array([1]))])
    assert r.higher.tolist() == [0, 3, 9] and r.ties.tolist() == [0, 0, 1]
    assert len(r) == 3
    assert r.expected.tolist() == [0, 3, 9.5]


def test_weighted_columns_rank_like_their_expanded_items() -> None:
    g = torch.Generator().manual_seed(3)
    distinct = torch.randint(0, 6, (5, 9), generator=g).float()  # small ints: many exact ties
    weights = torch.tensor([1, 3, 1, 2, 0, 1, 4, 1, 2])  # a 0: a column that stands for no item
    expanded = distinct.repeat_interleave(weights, dim=1)  # every item gets its SID's score
    column_of_item = torch.arange(9).repeat_interleave(weights)
    items = torch.tensor([0, 3, 5, 14, 10])
    full = rank_of_targets(expanded, items)
    fast = rank_of_targets(distinct, column_of_item[items], weights=weights)
    np.testing.assert_array_equal(full.higher, fast.higher)
    np.testing.assert_array_equal(full.ties, fast.ties)
    with pytest.raises(ValueError, match="weights"):
        rank_of_targets(distinct, column_of_item[items], weights=weights[:3])


def test_sign_count_equals_the_mask_count_with_ties_and_infinities() -> None:
    g = torch.Generator().manual_seed(7)
    scores = torch.randint(-3, 4, (6, 11), generator=g).float()  # many exact ties
    scores[0, 2] = scores[1, 0] = float("inf")
    scores[2, 5] = scores[3, 3] = float("-inf")
    scores[4, :] = float("inf")  # a row where every candidate ties an infinite target
    targets = torch.tensor([2, 0, 5, 1, 7, 10])
    weights = torch.tensor([1, 2, 1, 1, 3, 1, 1, 2, 1, 1, 4])
    kept = scores.clone()
    none_excluded = torch.zeros(11, dtype=torch.bool)  # the mask path, the reference
    for w in (None, weights):
        fast = rank_of_targets(scores, targets, weights=w)
        for reference in (
            rank_of_targets(scores, targets, exclude=none_excluded, weights=w),
            rank_of_targets(scores, targets, weights=w, count="compare"),
        ):
            np.testing.assert_array_equal(fast.higher, reference.higher)
            np.testing.assert_array_equal(fast.ties, reference.ties)
    assert torch.equal(scores, kept)  # overwrite=False leaves the caller's scores alone
    rank_of_targets(kept, targets, overwrite=True)
    assert not torch.equal(scores, kept)  # a temporary given with overwrite=True is work space


def test_unknown_rank_count_is_refused() -> None:
    with pytest.raises(ValueError, match="count='fast'"):
        rank_of_targets(torch.zeros(2, 3), torch.tensor([0, 1]), count="fast")
