"""Collaborative positives: windowed-co-occurrence PPMI, its batch lookups, and the item-to-item InfoNCE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quasid.errors import ConfigError, DataError
from quasid.qualify import CollaborativePositives, CooccurrenceContrastive, ppmi

# c_01 = 3, c_02 = 1, c_32 = 3: item 0's one meeting with item 2 is below chance
SEQUENCES = [np.array(s) for s in ([0, 1], [0, 1], [0, 1], [0, 2], [3, 2], [3, 2], [3, 2])]


def test_ppmi_keeps_only_pairs_above_chance():
    m = ppmi(SEQUENCES, 5, window=1).toarray()
    # T = 14, c_0 = 4, c_1 = 3, c_2 = 4, c_3 = 3
    assert m[0, 1] == pytest.approx(np.log(3 * 14 / (4 * 3))) and m[2, 3] == pytest.approx(m[0, 1])
    assert m[0, 2] == 0.0  # log(1 * 14 / 16) < 0
    np.testing.assert_array_equal(m, m.T)
    assert (m[4] == 0).all() and (np.diag(m) == 0).all()


def test_the_window_bounds_which_positions_co_occur():
    seq = [np.array([0, 1, 2, 3]), np.array([4, 5])]
    assert ppmi(seq, 6, window=1)[0, 2] == 0 and ppmi(seq, 6, window=2)[0, 2] > 0
    assert ppmi(seq, 6, window=3)[0, 3] > 0 and ppmi(seq, 6, window=2)[0, 3] == 0
    with pytest.raises(ConfigError, match="positive integer"):
        ppmi(seq, 6, window=0)
    with pytest.raises(DataError, match="outside the catalog"):
        ppmi([np.array([0, 9])], 6)
    assert ppmi([], 6).nnz == 0


def test_batch_lookups_agree_with_the_matrix():
    pos = CollaborativePositives.from_sequences(SEQUENCES, 5, window=1)
    assert pos.n_pairs == 2
    rows = torch.tensor([2, 0, 3, 1])
    block = pos.batch(rows)
    np.testing.assert_allclose(block.numpy(), pos.matrix[[2, 0, 3, 1]][:, [2, 0, 3, 1]].toarray(), rtol=1e-6)
    assert pos.is_positive(torch.tensor([1, 0, 2]), torch.tensor([0, 2, 3])).tolist() == [True, False, True]


def test_item_to_item_infonce_pulls_positives_together():
    torch.manual_seed(0)
    z = torch.randn(6, 4, requires_grad=True)
    ppmi_block = torch.zeros(6, 6)
    ppmi_block[0, 1] = ppmi_block[1, 0] = 2.0
    ppmi_block[0, 2] = ppmi_block[2, 0] = 1.0  # a weaker positive of item 0: masked, not a negative
    loss_fn = CooccurrenceContrastive(temperature=0.1)
    loss = loss_fn(z, ppmi_block)
    loss.backward()
    step = z.detach() - 0.5 * z.grad
    cos = torch.nn.functional.cosine_similarity
    assert cos(step[0], step[1], dim=0) > cos(z.detach()[0], z.detach()[1], dim=0)
    # a row's loss depends only on its chosen positive and the non-masked negatives
    moved = z.detach().clone()
    moved[2] = torch.randn(4) * 10
    assert loss_fn(moved, ppmi_block) != loss_fn(z.detach(), ppmi_block)  # row 1 and 2 see item 2
    only_zero = ppmi_block.clone()
    only_zero[1] = 0.0
    only_zero[2] = 0.0  # now only row 0 has positives; its logits never read item 2
    a = loss_fn(z.detach(), only_zero)
    b = loss_fn(moved, only_zero)
    assert a == pytest.approx(float(b))
    assert loss_fn(z, torch.zeros(6, 6)).item() == 0.0  # no positive: no signal
    # the self-similarity among the logits (as the public code has it) only damps the loss
    assert CooccurrenceContrastive(0.1, self_negative=True)(z.detach(), ppmi_block) > loss_fn(
        z.detach(), ppmi_block
    )
    same = torch.tensor([0, 1, 2, 3, 4, 0])  # row 5 is a copy of item 0: not its negative
    ppmi_copy = ppmi_block.clone()
    ppmi_copy[5, 1] = ppmi_copy[1, 5] = 2.0
    assert torch.isfinite(loss_fn(z.detach(), ppmi_copy, same))


def _dense_infonce(latents, ppmi, items, temperature, self_negative):
    """The objective written on [b, b] masks (the reference the pair-wise forward must equal)."""
    b = latents.shape[0]
    eye = torch.eye(b, dtype=torch.bool)
    same = eye if items is None else items[:, None] == items[None, :]
    ppmi = ppmi.masked_fill(same, 0.0)
    has_positive = (ppmi > 0).any(dim=1)
    if not bool(has_positive.any()):
        return latents.sum() * 0.0
    positive = ppmi.argmax(dim=1)
    z = torch.nn.functional.normalize(latents, dim=-1)
    logits = z @ z.t() / temperature
    chosen = torch.zeros_like(eye)
    chosen[torch.arange(b), positive] = True
    hidden = ((ppmi > 0) & ~chosen) | (same & ~eye)
    if not self_negative:
        hidden = hidden | eye
    logits = logits.masked_fill(hidden, float("-inf"))
    return torch.nn.functional.cross_entropy(logits[has_positive], positive[has_positive])


@pytest.mark.parametrize("self_negative", [False, True])
@pytest.mark.parametrize("copies", [False, True])
def test_pairwise_infonce_equals_the_dense_masks_in_loss_and_gradient(self_negative, copies):
    gen = np.random.default_rng(3)
    n, b = 40, 24
    sequences = [gen.integers(0, n, size=gen.integers(2, 9)) for _ in range(60)]
    positives = CollaborativePositives.from_sequences(sequences, n, window=3)
    rows = torch.from_numpy(gen.choice(n, size=b, replace=False))
    if copies:  # a batch that holds some items twice (as a gathered or composed batch may)
        rows[-4:] = rows[:4]
    dense = positives.batch(rows)
    sparse = positives.batch(rows, sparse=True)
    assert sparse.is_sparse
    expected = positives.matrix[rows.numpy()][:, rows.numpy()].toarray().astype(np.float32)
    np.testing.assert_array_equal(sparse.to_dense().numpy(), expected)
    np.testing.assert_array_equal(dense.numpy(), expected)
    dense[3, 5] = dense[3, 7] = dense.max() + 1.0  # a tie: the first column is the chosen positive
    fn = CooccurrenceContrastive(temperature=0.1, self_negative=self_negative)
    for block in (dense, dense.to_sparse()):
        z = torch.randn(b, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
        z_ref = z.detach().clone().requires_grad_(True)
        loss = fn(z, block, rows)
        ref = _dense_infonce(z_ref, dense, rows, 0.1, self_negative)
        assert ref.item() > 0
        assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
        loss.backward()
        ref.backward()
        torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-4, atol=1e-6)
