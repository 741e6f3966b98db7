"""SASRec and the evaluation loop: no leakage, learnability, SID collisions, early stopping, determinism."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import quasid.rec.sasrec as sasrec_module
from quasid.data import Interactions, cold_start_split, leave_one_out
from quasid.errors import ConfigError, DataError
from quasid.rec import (
    EvalSet,
    SASRec,
    SASRecConfig,
    TrainConfig,
    Trainer,
    cold_start_sets,
    fit_and_evaluate,
    fit_and_evaluate_cold_start,
    leave_one_out_sets,
)
from quasid.sid.table import SIDTable

N_ITEMS = 50
FAST = TrainConfig(epochs=25, batch_size=64, lr=5e-3, patience=3, progress=False)


def cycle_interactions(n_users: int = 150, n_items: int = N_ITEMS, seed: int = 0) -> Interactions:
    """Users walk the cycle i -> i+1 (mod n_items) from a random start: perfectly learnable."""
    rng = np.random.default_rng(seed)
    seqs = [
        [(int(start) + i) % n_items for i in range(int(length))]
        for start, length in zip(rng.integers(0, n_items, n_users), rng.integers(4, 12, n_users), strict=True)
    ]
    return Interactions.from_sequences(seqs, n_items)


def unique_sids(n_items: int = N_ITEMS) -> SIDTable:
    """Distinct 2-level codes (10 per level), shuffled so that code structure says nothing about the cycle."""
    perm = np.random.default_rng(0).permutation(n_items)
    codes = np.stack([perm // 10, perm % 10], axis=1)
    return SIDTable(np.arange(n_items).astype(str), codes, codebook_size=10)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="heads"):
        SASRecConfig(hidden=64, heads=3).validate()
    with pytest.raises(ConfigError, match="dropout"):
        SASRec(10, dropout=1.0)
    with pytest.raises(ConfigError, match="item_repr"):
        SASRec(10, item_repr="title")
    with pytest.raises(ConfigError, match="sid_table"):
        SASRec(10, item_repr="sid")
    with pytest.raises(ConfigError, match="not_a_field"):
        SASRec(10, not_a_field=1)
    with pytest.raises(ConfigError, match="rank_count"):
        SASRec(10, rank_count="approximate")
    with pytest.raises(ConfigError, match="score_block"):
        SASRec(10, score_block=-1)
    with pytest.raises(ConfigError, match="score_workers"):
        SASRec(10, score_workers=-1)
    with pytest.raises(ConfigError, match="monitor"):
        TrainConfig(monitor="ndcg@20").validate()
    with pytest.raises(ConfigError, match="patience"):
        TrainConfig(patience=0).validate()


def test_training_batches_never_hold_a_users_valid_or_test_target() -> None:
    # disjoint item ranges per user, so every window names its user; one user is longer than a window
    lengths = [4, 5, 9, 3, 20]
    seqs, offset = [], 0
    for n in lengths:
        seqs.append(list(range(offset, offset + n)))
        offset += n
    split = leave_one_out(Interactions.from_sequences(seqs, offset))
    train, valid, test = leave_one_out_sets(split)
    model = SASRec(offset, max_len=4)  # windows of at most 5 items
    trainer = Trainer(model, FAST, batch_size=2)
    owner = {item: u for u, s in enumerate(seqs) for item in s}
    n_targets = [0] * len(seqs)
    for batch in trainer.batches(trainer.examples(train), epoch=1):
        for inp, tgt in zip(batch["input"].numpy(), batch["target"].numpy(), strict=True):
            items = np.concatenate([inp[inp > 0] - 1, tgt[tgt >= 0]])
            u = owner[int(items[0])]
            held_out = {int(split.valid_target[u]), int(split.test_target[u])}
            assert held_out.isdisjoint(items.tolist()), f"user {u}: a held-out target reached training"
            assert set(items.tolist()) <= set(seqs[u][:-2])
            n_targets[u] += int((tgt >= 0).sum())
    # every training transition is a target exactly once, nothing more
    assert n_targets == [n - 3 for n in lengths]
    for u, s in enumerate(seqs):
        assert valid.histories[u].tolist() == s[:-2] and valid.targets[u] == s[-2]
        assert test.histories[u].tolist() == s[:-1] and test.targets[u] == s[-1]


def test_cold_start_training_never_sees_a_cold_item() -> None:
    split = cold_start_split(cycle_interactions(), frac=0.2, seed=0)
    train, valid, test = cold_start_sets(split)
    cold = set(split.cold_items.tolist())
    assert all(cold.isdisjoint(s.tolist()) for s in train)
    assert cold.isdisjoint(valid.targets.tolist())
    assert set(test.targets.tolist()) <= cold and len(test) > 0


@pytest.mark.parametrize(("item_repr", "pooling"), [("id", "sum"), ("sid", "sum"), ("sid", "concat")])
def test_sasrec_learns_a_deterministic_cycle(item_repr: str, pooling: str) -> None:
    split = leave_one_out(cycle_interactions())
    model = SASRec(
        N_ITEMS, item_repr=item_repr, sid_pooling=pooling, sid_table=unique_sids(), hidden=32, layers=1
    )
    before = Trainer(model, FAST).evaluate(leave_one_out_sets(split)[2])
    result = fit_and_evaluate(model, split, FAST)
    assert before["recall@10"] < 0.5  # an untrained model cannot do this
    assert result.test["recall@10"] > 0.5, result.history
    assert result.best_epoch >= 1 and result.n_test == len(split.test_target)


def test_bce_objective_also_learns() -> None:
    split = leave_one_out(cycle_interactions())
    model = SASRec(N_ITEMS, loss="bce", hidden=32, layers=1)
    assert fit_and_evaluate(model, split, FAST).test["recall@10"] > 0.5


def test_items_with_the_same_sid_get_identical_scores() -> None:
    codes = np.stack([np.arange(N_ITEMS) // 10, np.arange(N_ITEMS) % 10], axis=1)
    codes[1] = codes[0]  # items 0 and 1 collide
    plain = SIDTable(np.arange(N_ITEMS).astype(str), codes, codebook_size=10)
    deduped = SIDTable.from_codes(plain.item_ids, codes, codebook_size=10, disambiguate=True)
    histories = [np.array([3, 4, 5]), np.array([7])]
    targets = np.array([0, 1])

    model = SASRec(N_ITEMS, item_repr="sid", sid_table=plain, max_len=20)
    scores = model.score_histories(histories)
    assert torch.equal(scores[:, 0], scores[:, 1])
    assert not torch.equal(scores[:, 0], scores[:, 2])
    assert (model.rank_targets(histories, targets).ties >= 1).all()  # the twin is a tie, not a loss or a win
    # no per-item parameters: no tensor has a row per item
    assert all(N_ITEMS not in p.shape for p in model.parameters())

    model = SASRec(N_ITEMS, item_repr="sid", sid_table=deduped)  # the disambiguation level separates them
    scores = model.score_histories(histories)
    assert not torch.equal(scores[:, 0], scores[:, 1])


def test_sid_table_is_aligned_to_catalog_rows_by_item_id() -> None:
    table = unique_sids()
    shuffled = np.random.default_rng(0).permutation(N_ITEMS)
    model = SASRec(N_ITEMS, item_repr="sid", sid_table=table, item_ids=table.item_ids[shuffled])
    aligned = SASRec(N_ITEMS, item_repr="sid", sid_table=table)
    torch.testing.assert_close(model.item_embeddings(), aligned.item_embeddings()[shuffled])
    with pytest.raises(DataError, match="no SID"):
        SASRec(N_ITEMS, item_repr="sid", sid_table=table, item_ids=["nope"] * N_ITEMS)


def test_same_seed_same_run() -> None:
    split = leave_one_out(cycle_interactions(n_users=60))
    cfg = TrainConfig(epochs=3, batch_size=16, patience=5, progress=False, seed=7)
    a = fit_and_evaluate(SASRec(N_ITEMS, hidden=16, layers=1, seed=3), split, cfg)
    b = fit_and_evaluate(SASRec(N_ITEMS, hidden=16, layers=1, seed=3), split, cfg)
    assert [h.loss for h in a.history] == [h.loss for h in b.history]
    assert a.test == b.test


class ScriptedModel(nn.Module):
    """A fake model whose validation quality follows a script, one step per epoch."""

    def __init__(self, script: Sequence[int]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.script = list(script)
        self.batches_seen = 0

    def training_loss(self, batch: object) -> Tensor:
        self.batches_seen += 1
        if self.batches_seen % 2 == 0:  # two batches per epoch (4 sequences, batch size 2)
            self.step += 1
        return (self.w**2).sum()

    def rank_targets(self, histories: Sequence[np.ndarray], targets: np.ndarray) -> np.ndarray:
        return np.full(len(targets), self.script[int(self.step) - 1], dtype=float)


def test_early_stopping_reports_test_figures_of_the_best_validation_epoch() -> None:
    seqs = [[0, 1, 2, 3]] * 4
    split = leave_one_out(Interactions.from_sequences(seqs, 5))
    ranks = [20, 3, 0, 8, 9, 9, 1, 0]  # valid (= test) rank after each epoch; best at epoch 3
    model = ScriptedModel(ranks)
    result = fit_and_evaluate(model, split, TrainConfig(epochs=8, batch_size=2, patience=3, progress=False))
    assert result.best_epoch == 3
    assert result.stopped_early and len(result.history) == 6  # epochs 4, 5, 6 did not improve
    assert result.valid["ndcg@10"] == 1.0
    assert result.test["ndcg@10"] == 1.0  # parameters (the step buffer) of epoch 3 were restored
    assert [h.valid is not None for h in result.history] == [True] * 6


def test_cold_start_protocol_runs_end_to_end() -> None:
    split = cold_start_split(cycle_interactions(), frac=0.2, seed=0)
    model = SASRec(N_ITEMS, item_repr="sid", sid_table=unique_sids(), hidden=16, layers=1)
    result = fit_and_evaluate_cold_start(model, split, FAST, epochs=2)
    assert result.n_test == len(split.test_target) > 0
    assert set(result.test) == {"recall@5", "ndcg@5", "recall@10", "ndcg@10"}


class LengthRanker(nn.Module):
    """Ranks each target at its history length, to show whether ranks come back in the cases' order."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def training_loss(self, batch: object) -> Tensor:
        return (self.w**2).sum()

    def rank_targets(self, histories: Sequence[np.ndarray], targets: np.ndarray) -> np.ndarray:
        return np.array([len(h) for h in histories], dtype=float)


def test_evaluation_returns_ranks_in_the_order_of_the_test_cases() -> None:
    lengths = [5, 1, 3, 3, 9, 2, 7]
    cases = EvalSet([np.arange(n) for n in lengths], np.zeros(len(lengths), np.int64))
    ranks = Trainer(LengthRanker(), TrainConfig(eval_batch_size=2, progress=False)).ranks(cases)
    assert ranks.higher.tolist() == lengths


def _colliding_table(dedup: bool = False) -> SIDTable:
    codes = np.stack([np.arange(N_ITEMS) // 10, np.arange(N_ITEMS) % 10], axis=1)
    codes[1] = codes[0]
    codes[7] = codes[3] = codes[2]  # a group of three
    table = SIDTable(np.arange(N_ITEMS).astype(str), codes, codebook_size=10)
    return SIDTable.from_codes(table.item_ids, codes, 10, disambiguate=True) if dedup else table


@pytest.mark.parametrize("item_repr", ["id", "sid", "hybrid"])
def test_streamed_cross_entropy_gives_the_plain_loss_and_gradients(item_repr: str) -> None:
    split = leave_one_out(cycle_interactions())
    batch = None
    grads = []
    for chunk in (0, 7):
        model = SASRec(
            N_ITEMS,
            item_repr=item_repr,
            sid_table=_colliding_table(),
            dropout=0.0,
            ce_chunk=chunk,
            ce_bf16=False,  # exact products: the streamed loss must equal the plain one
        )
        trainer = Trainer(model, FAST)
        batch = batch or next(iter(trainer.batches(trainer.examples(split.train_sequences()), 1)))
        loss = model.training_loss(batch)
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_ranks_over_distinct_sids_equal_ranks_over_every_item() -> None:
    model = SASRec(N_ITEMS, item_repr="sid", sid_table=_colliding_table(), max_len=20).eval()
    histories = [np.array([3, 4, 5]), np.array([7]), np.array([1, 2]), np.array([9, 8, 7, 6])]
    targets = np.array([0, 1, 3, 2])
    fast = model.rank_targets(histories, targets)
    from quasid.rec.metrics import rank_of_targets

    full = rank_of_targets(model.score_histories(histories), torch.as_tensor(targets))
    np.testing.assert_array_equal(fast.higher, full.higher)
    np.testing.assert_array_equal(fast.ties, full.ties)
    assert fast.ties[0] >= 1 and fast.ties[2] >= 2  # the twin and the group of three tie with their targets


@pytest.mark.parametrize("item_repr", ["id", "sid", "hybrid"])
def test_evaluation_levers_change_where_the_work_is_done_not_the_ranks(
    item_repr: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocked scoring and the last block at the last position only, against the plain path:
    histories longer than max_len (clipped), of length 1, and a last block of fewer users."""
    _, _, test = leave_one_out_sets(leave_one_out(cycle_interactions()))
    histories = [*test.histories[:22], np.array([5]), np.arange(N_ITEMS)[:11]]
    targets = np.array([*test.targets[:22], 6, 11])
    models = [
        SASRec(
            N_ITEMS,
            item_repr=item_repr,
            sid_table=_colliding_table(),
            max_len=8,
            init_std=0.5,  # scores far apart: rounding cannot reorder them
            score_block=block,
            last_position_only=last,
            score_workers=workers,
        ).eval()
        for block, last, workers in ((0, False, 1), (5, True, 1), (5, True, 3))
    ]
    plain, fast, parallel = models
    with torch.no_grad():
        torch.testing.assert_close(fast._last_hidden(histories), plain._last_hidden(histories))
    threads = torch.get_num_threads()
    a, b = plain.rank_targets(histories, targets), fast.rank_targets(histories, targets)
    grad_modes: list[bool] = []
    count = sasrec_module.rank_of_targets

    def spy(scores: torch.Tensor, *args: object, **kwargs: object) -> object:
        grad_modes.append(torch.is_grad_enabled() or scores.requires_grad)
        return count(scores, *args, **kwargs)

    monkeypatch.setattr(sasrec_module, "rank_of_targets", spy)
    c = parallel.rank_targets(histories, targets)  # blocks on 3 threads: the same ranks, in order
    assert grad_modes and not any(grad_modes)  # grad mode is per thread: workers score without it
    assert torch.get_num_threads() == threads  # torch's thread count is given back
    for r in (b, c):
        np.testing.assert_array_equal(a.higher, r.higher)
        np.testing.assert_array_equal(a.ties, r.ties)
        assert len(r) == len(targets)


def test_hybrid_items_are_distinct_but_share_their_tokens() -> None:
    model = SASRec(N_ITEMS, item_repr="hybrid", sid_table=_colliding_table(), hidden=16)
    vectors = model.item_embeddings()
    assert not torch.equal(vectors[0], vectors[1])  # same SID, different id rows
    sid_part = model.items.sids.distinct()
    shared = sid_part[0][sid_part[1]]
    torch.testing.assert_close(vectors - model.items.ids.table.weight, shared)
    assert torch.equal(shared[0], shared[1])
    assert model.describe()["n_distinct_sids"] == len(np.unique(_colliding_table().codes, axis=0))
    split = leave_one_out(cycle_interactions())
    assert fit_and_evaluate(model, split, FAST).test["recall@10"] > 0.5
    with pytest.raises(ConfigError, match=r"hybrid.*sid_table"):
        SASRec(10, item_repr="hybrid")
