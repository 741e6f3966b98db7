"""Dual-tower contrastive objective: user tower pooling, InfoNCE, false negatives, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quasid.errors import ConfigError, DataError
from quasid.qualify.contrastive import DualTowerContrastive, UserTower, sample_user_batches


class FixedUsers(nn.Module):
    """A user tower that returns given vectors, so the loss can be checked by hand."""

    def __init__(self, users: Tensor) -> None:
        super().__init__()
        self.users = users

    def forward(self, history_latents: Tensor, history_mask: Tensor) -> Tensor:
        return self.users


def hand_infonce(users: Tensor, targets: Tensor, items: list[int], t: float, rows: list[int]) -> float:
    users, targets = F.normalize(users, dim=-1), F.normalize(targets, dim=-1)
    total = 0.0
    for b in rows:
        logits = [
            float(users[b] @ targets[c]) / t for c in range(len(items)) if c == b or items[c] != items[b]
        ]
        positive = float(users[b] @ targets[b]) / t
        total += -positive + float(torch.logsumexp(torch.tensor(logits), dim=0))
    return total / len(rows)


def make_batch(b: int = 4, t: int = 3, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, t, d, generator=g),
        torch.ones(b, t, dtype=torch.bool),
        torch.randn(b, d, generator=g),
        torch.randn(b, d, generator=g),  # user vectors for FixedUsers
    )


def test_infonce_matches_explicit_cross_entropy() -> None:
    history, mask, targets, users = make_batch()
    model = DualTowerContrastive(5, temperature=0.1)
    model.user_tower = FixedUsers(users)
    loss = model(history, mask, targets, torch.tensor([10, 11, 12, 13]))
    logits = F.normalize(users, dim=-1) @ F.normalize(targets, dim=-1).t() / 0.1
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.arange(4)).item(), rel=1e-5)
    assert loss.item() == pytest.approx(
        hand_infonce(users, targets, [10, 11, 12, 13], 0.1, [0, 1, 2, 3]), rel=1e-5
    )


def test_same_target_twice_is_not_a_negative() -> None:
    history, mask, targets, users = make_batch()
    targets[2] = targets[0]  # item 10 appears at rows 0 and 2
    items = [10, 11, 10, 13]
    model = DualTowerContrastive(5, temperature=0.1)
    model.user_tower = FixedUsers(users)
    loss = model(history, mask, targets, torch.tensor(items))
    assert loss.item() == pytest.approx(hand_infonce(users, targets, items, 0.1, [0, 1, 2, 3]), rel=1e-5)
    unmasked = F.cross_entropy(
        F.normalize(users, dim=-1) @ F.normalize(targets, dim=-1).t() / 0.1, torch.arange(4)
    )
    assert loss.item() < unmasked.item()


def test_rows_without_history_are_left_out() -> None:
    history, mask, targets, users = make_batch()
    mask[1] = False
    model = DualTowerContrastive(5, temperature=0.07)
    model.user_tower = FixedUsers(users)
    loss = model(history, mask, targets, torch.arange(4))
    assert loss.item() == pytest.approx(hand_infonce(users, targets, [0, 1, 2, 3], 0.07, [0, 2, 3]), rel=1e-5)
    empty = model(history, torch.zeros_like(mask), targets, torch.arange(4))
    assert empty.item() == 0.0


def test_gradients_reach_tower_and_targets() -> None:
    history, mask, targets, _ = make_batch()
    history.requires_grad_()
    targets.requires_grad_()
    model = DualTowerContrastive(5, pooling="attention")
    model(history, mask, targets, torch.arange(4)).backward()
    assert history.grad.abs().sum() > 0 and targets.grad.abs().sum() > 0
    assert model.user_tower.query.grad is not None
    assert all(p.grad is not None for p in model.user_tower.mlp.parameters())


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_pooling_reads_the_most_recent_real_items(pooling: str) -> None:
    tower = UserTower(2, pooling=pooling, max_history=2)
    tower.mlp = nn.Identity()  # look at the pooled vector itself
    history = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [3.0, 2.0], [5.0, 4.0]]])  # slot 0 is padding
    mask = torch.tensor([[False, True, True, True]])
    pooled = tower(history, mask)
    # the last two real items, averaged (attention starts uniform)
    assert torch.allclose(pooled, torch.tensor([[4.0, 3.0]]))


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_all_padding_row_pools_to_zero(pooling: str) -> None:
    tower = UserTower(3, pooling=pooling)
    tower.mlp = nn.Identity()
    pooled = tower(torch.randn(2, 4, 3), torch.tensor([[False] * 4, [True] * 4]))
    assert torch.isfinite(pooled).all()
    assert torch.equal(pooled[0], torch.zeros(3))


def test_configuration_is_validated() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        DualTowerContrastive(4, temperature=0.0)
    with pytest.raises(ConfigError, match="pooling"):
        UserTower(4, pooling="max")
    with pytest.raises(ConfigError, match="max_history"):
        UserTower(4, max_history=0)


SEQUENCES = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]


def test_one_pass_yields_every_position_with_its_history() -> None:
    batches = list(sample_user_batches(SEQUENCES, batch_size=2, max_history=2, rng=np.random.default_rng(0)))
    assert [len(t) for _, t in batches] == [2, 1]
    examples = {int(t): tuple(h.tolist()) for hist, tgt in batches for h, t in zip(hist, tgt, strict=True)}
    assert examples == {2: (-1, 1), 3: (1, 2), 6: (-1, 5)}


def test_history_is_truncated_to_the_most_recent() -> None:
    (batch,) = sample_user_batches(SEQUENCES, batch_size=8, max_history=1, rng=np.random.default_rng(0))
    history, target = batch
    assert history.shape == (3, 1) and history.dtype == np.int64
    assert dict(zip(target.tolist(), history[:, 0].tolist(), strict=True)) == {2: 1, 3: 2, 6: 5}


def test_sampling_with_replacement() -> None:
    rng = np.random.default_rng(1)
    sequences = [rng.integers(0, 50, size=rng.integers(1, 12)) for _ in range(30)]
    batches = list(sample_user_batches(sequences, batch_size=16, max_history=4, rng=rng, n_batches=5))
    assert len(batches) == 5
    prefixes = {
        (tuple(s[max(0, p - 4) : p].tolist()), int(s[p])) for s in sequences for p in range(1, len(s))
    }
    for history, target in batches:
        assert history.shape == (16, 4) and target.shape == (16,)
        for h, t in zip(history, target, strict=True):
            assert (tuple(v for v in h.tolist() if v >= 0), int(t)) in prefixes
            assert np.all(np.diff((h >= 0).astype(int)) >= 0)  # padding only on the left


def test_sampling_needs_histories() -> None:
    with pytest.raises(DataError, match="two or more"):
        next(sample_user_batches([np.array([1]), np.array([])], 4, 2, np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="batch_size"):
        next(sample_user_batches(SEQUENCES, 0, 2, np.random.default_rng(0)))
