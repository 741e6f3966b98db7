"""TIGER: vocabulary, SID trie, constrained beam search, training on a learnable task."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

from quasid.errors import ConfigError, DataError
from quasid.rec.evaluate import EvalSet, TrainConfig, Trainer
from quasid.rec.metrics import ndcg_at_k
from quasid.rec.tiger import (
    EOS,
    PAD,
    HistoryEncoder,
    SIDTrie,
    SIDVocab,
    Tiger,
    TigerConfig,
    TrieConstraint,
    item_tokens,
    ranks_in_beams,
)
from quasid.sid.table import SIDTable

TINY = TigerConfig(d_model=32, num_encoder_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16, d_ff=64)


def _generate(model: Tiger, histories: list[np.ndarray], beams: int, **constraint: object) -> torch.Tensor:
    """Raw ``generate()`` beams (BOS + 4 SID tokens + EOS) under the given constraint, no filtering."""
    ids, mask = model.histories.encode(histories)
    gen = model.generation_config(beams)
    with torch.no_grad():
        return model.t5.generate(input_ids=ids, attention_mask=mask, generation_config=gen, **constraint)


def _table(n: int = 300, levels: int = 3, k: int = 8, seed: int = 0, dedup: bool = True) -> SIDTable:
    """Random codes over a small codebook, so many items collide and the dedup level is deep."""
    codes = np.random.default_rng(seed).integers(0, k, size=(n, levels))
    return SIDTable.from_codes(np.arange(n), codes, k, disambiguate=dedup)


def _valid_sids(table: SIDTable) -> set[tuple[int, ...]]:
    return {tuple(r) for r in table.full_codes().tolist()}


# --- vocabulary ------------------------------------------------------------------------------
def test_vocab_round_trip_and_disjoint_levels() -> None:
    table = _table()
    vocab = SIDVocab.from_table(table)
    assert vocab.sid_length == 4 and vocab.level_sizes[-1] == int(table.dedup.max()) + 1
    tokens = vocab.encode(table.full_codes())
    np.testing.assert_array_equal(vocab.decode(tokens), table.full_codes())
    assert tokens.min() >= 3 and tokens.max() < vocab.size  # specials untouched
    # each level owns its own block: no token id is used at two levels
    blocks = [set(tokens[:, lv].tolist()) for lv in range(vocab.sid_length)]
    assert all(blocks[a].isdisjoint(blocks[b]) for a in range(4) for b in range(a + 1, 4))
    # the same code at different levels is a different token
    assert vocab.encode(np.array([0, 0, 0, 0])).tolist() == vocab.offsets.tolist()
    with pytest.raises(DataError):
        vocab.decode(tokens[:, ::-1])  # level-3 token at level 0
    with pytest.raises(DataError):
        vocab.encode(np.array([8, 0, 0, 0]))  # code >= K


def test_vocab_without_dedup_and_user_tokens() -> None:
    table = _table(dedup=False)
    vocab = SIDVocab.from_table(table, user_buckets=50)
    assert vocab.sid_length == 3 and vocab.size == 3 + 3 * 8 + 50
    users = vocab.user_tokens(["u1", "u2", "u1", 7])
    assert users[0] == users[2]  # stable hash
    assert ((users >= vocab.user_offset) & (users < vocab.size)).all()
    with pytest.raises(ConfigError):
        SIDVocab.from_table(table).user_tokens(["u1"])


def test_item_tokens_follow_the_given_item_order() -> None:
    table = _table(n=20)
    vocab = SIDVocab.from_table(table)
    order = [str(i) for i in np.random.default_rng(1).permutation(20)]
    toks = item_tokens(table, vocab, order)
    np.testing.assert_array_equal(vocab.decode(toks), table.full_codes()[[int(i) for i in order]])
    with pytest.raises(DataError, match="no SID"):
        item_tokens(table, vocab, ["0", "unknown"])


# --- trie ------------------------------------------------------------------------------------
def test_trie_gives_exactly_the_valid_continuations() -> None:
    table = _table(n=200, k=5)
    vocab = SIDVocab.from_table(table)
    tokens = vocab.encode(table.full_codes())
    trie = SIDTrie(tokens, vocab.size)
    paths = [tuple(r) for r in tokens.tolist()]
    prefixes = {p[:d] for p in paths for d in range(len(p) + 1)}
    for prefix in prefixes:
        expected = sorted(
            {p[len(prefix)] for p in paths if p[: len(prefix)] == prefix} if len(prefix) < 4 else {EOS}
        )
        assert trie.allowed(prefix).tolist() == expected, prefix
    # prefixes that no item has: only PAD (a dead beam can never finish)
    some = paths[0]
    for bad in [(some[1],), (some[0], some[0]), (*some, EOS), (vocab.size - 1,)]:
        assert trie.allowed(bad).tolist() == [PAD]
    # the batched mask agrees with the per-prefix lists
    for d in range(5):
        rows = torch.tensor([p[:d] for p in paths[:30]], dtype=torch.int64).reshape(30, d)
        mask = trie.mask(trie.walk(rows))
        for row, m in zip(rows.tolist(), mask, strict=True):
            assert torch.nonzero(m).squeeze(1).tolist() == trie.allowed(row).tolist()
    # leaves name items: with dedup every item is its own leaf
    leaves = trie.leaves(torch.from_numpy(tokens))
    np.testing.assert_array_equal(leaves, trie.item_leaf)
    assert len(set(leaves.tolist())) == len(table.item_ids)
    assert all(trie.items_at(int(leaf)).tolist() == [i] for i, leaf in enumerate(leaves))


def test_trie_without_dedup_groups_items_per_leaf() -> None:
    codes = np.array([[0, 1], [0, 1], [1, 0], [0, 1]])
    table = SIDTable.from_codes(np.arange(4), codes, 2, disambiguate=False)
    vocab = SIDVocab.from_table(table)
    trie = SIDTrie(vocab.encode(table.full_codes()), vocab.size)
    assert trie.n_leaves == 2
    assert trie.items_at(int(trie.item_leaf[0])).tolist() == [0, 1, 3]


# --- constrained decoding --------------------------------------------------------------------
@pytest.mark.parametrize("k", [3, 16])  # k=3: fewer first-level paths than beams (dead beams exist)
def test_untrained_model_only_returns_valid_distinct_sids(k: int) -> None:
    table = _table(n=400, k=k, seed=k)
    model = Tiger(table, TINY)
    with torch.no_grad():  # sharpen the random logits so the untrained model has strong, wrong opinions
        model.t5.lm_head.weight.mul_(50.0)
    rng = np.random.default_rng(0)
    histories = [rng.integers(0, 400, size=rng.integers(1, 40)) for _ in range(40)]
    leaves = model.decode(histories)
    assert leaves.shape == (40, 20)
    assert (leaves >= 0).all()  # 400 items >= 20 beams: every slot filled with a catalog SID
    assert all(len(set(row)) == 20 for row in leaves.tolist())
    valid = _valid_sids(table)
    rec = model.recommend(histories, k=10)
    assert all(len(set(row)) == 10 for row in rec.tolist())
    assert all(tuple(table.full_codes()[i]) in valid for i in rec.reshape(-1))
    # raw beam output of generate() itself, before any filtering, when enough paths exist
    if k == 16:
        seqs = _generate(
            model, histories, beams=20, logits_processor=LogitsProcessorList([TrieConstraint(model.trie)])
        )
        decoded = model.vocab.decode(seqs[:, 1:5].numpy())
        assert all(tuple(r) in valid for r in decoded.tolist())
        assert (seqs[:, 5] == EOS).all()


@pytest.mark.parametrize("one_root", [False, True])
def test_catalog_smaller_than_the_beam(one_root: bool) -> None:
    """12 items, 20 beams: beam search must pad with dead or repeated paths; none may come back."""
    table = _table(n=12, k=2, seed=5)
    if one_root:  # a single first-level code: 20 beams x 1 token < 40 candidates, so dead beams occur
        table = SIDTable.from_codes(table.item_ids, np.column_stack([table.codes[:, :1] * 0, table.codes]), 2)
    model = Tiger(table, TINY)
    rng = np.random.default_rng(2)
    leaves = model.decode([rng.integers(0, 12, size=3) for _ in range(10)])
    for row in leaves.tolist():
        assert sorted(row[:12]) == list(range(12)) and row[12:] == [-1] * 8
    ranks = model.rank_targets([np.array([0])] * 12, np.arange(12))
    assert sorted(ranks.higher.tolist()) == list(range(12)) and not ranks.ties.any()


def test_processor_matches_prefix_allowed_tokens_fn() -> None:
    table = _table(n=100, k=6, seed=3)
    model = Tiger(table, TINY).eval()
    rng = np.random.default_rng(1)
    histories = [rng.integers(0, 100, size=5) for _ in range(3)]
    fast = _generate(
        model, histories, beams=8, logits_processor=LogitsProcessorList([TrieConstraint(model.trie)])
    )
    slow = _generate(model, histories, beams=8, prefix_allowed_tokens_fn=model.trie.prefix_allowed_tokens_fn)
    assert torch.equal(fast, slow)


def test_ranks_and_ties_without_dedup() -> None:
    # items 0 and 1 share a SID: one beam stands for both. "expected" ranks them as two tied items
    # after every item of the earlier beams; "shared" (the old reading) gives both the beam's position
    codes = np.array([[i // 6, i % 6] for i in range(30)])
    codes[1] = codes[0]
    codes[3] = codes[2] = codes[4]  # and items 2, 3, 4 share another
    table = SIDTable.from_codes(np.arange(30), codes, 6, disambiguate=False)
    hist = [np.array([5, 6])] * 5
    expected = Tiger(table, TINY)
    shared = Tiger(table, dataclasses.replace(TINY, rank_ties="shared"))
    shared.load_state_dict(expected.state_dict())
    leaves = list(expected.decode(hist)[0])
    sizes = expected.trie.leaf_sizes[np.array(leaves)]
    pos = leaves.index(expected.trie.item_leaf[0])
    r = expected.rank_targets(hist, np.arange(5))
    assert r.higher[0] == r.higher[1] == sizes[:pos].sum() and r.ties[:2].tolist() == [1, 1]
    assert r.ties[2:].tolist() == [2, 2, 2]
    s = shared.rank_targets(hist, np.arange(5))
    assert s.higher[0] == s.higher[1] == pos and not s.ties.any()
    assert (r.higher >= s.higher).all()  # a beam of several items never ranks a target higher
    rec = expected.recommend(hist, k=29)
    rec_pos = list(rec[0])
    assert abs(rec_pos.index(0) - rec_pos.index(1)) == 1  # listed together


def test_ranks_in_beams_counts_the_items_of_earlier_beams() -> None:
    leaves = np.array([[4, 2, -1], [4, 2, -1], [2, 4, 0]])
    targets = np.array([7, 2, 2])
    plain = ranks_in_beams(leaves, targets)
    assert plain.higher.tolist() == [np.inf, 1.0, 0.0] and plain.ties.tolist() == [0, 0, 0]
    sizes = np.array([1, 0, 2, 0, 3, 0, 0, 1])  # leaf 4 holds 3 items, leaf 2 two
    r = ranks_in_beams(leaves, targets, sizes)
    assert r.higher.tolist() == [np.inf, 3.0, 0.0] and r.ties.tolist() == [0, 1, 1]
    with_ones = ranks_in_beams(leaves, targets, np.ones(8, dtype=np.int64))
    assert with_ones.higher.tolist() == plain.higher.tolist()  # a dedup table: the two readings agree
    assert ndcg_at_k(r, 2) < ndcg_at_k(plain, 2)


def test_unknown_rank_ties_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="rank_ties"):
        TigerConfig(rank_ties="optimistic").validate()


# --- inputs ----------------------------------------------------------------------------------
def test_history_truncation_keeps_the_most_recent_items() -> None:
    tokens = np.arange(40 * 3).reshape(40, 3) + 3
    enc = HistoryEncoder(tokens, max_items=4)
    ids, mask = enc.encode([np.arange(10), np.array([7])])
    assert ids[0].tolist() == [*tokens[[6, 7, 8, 9]].reshape(-1).tolist(), EOS]
    assert ids[1, :4].tolist() == [*tokens[7].tolist(), EOS] and (ids[1, 4:] == PAD).all()
    assert mask.sum(1).tolist() == [13, 4]
    # prefix examples: one per position t >= 1, history = the (truncated) items before t
    ex = enc.prefix_examples([np.arange(6), np.array([20]), np.array([30, 31])])
    assert len(ex) == 5 + 0 + 1
    parts = enc.collate(ex, np.arange(len(ex)), micro_batch=2)
    got = {}
    for p in parts:
        for row, m, lab in zip(p["input_ids"], p["attention_mask"], p["labels"], strict=True):
            assert row[m.bool()][-1] == EOS
            items = row[m.bool()][:-1].reshape(-1, 3)[:, 0] // 3 - 1
            got[int(lab[0]) // 3 - 1] = items.tolist()
            assert lab[-1] == EOS
    assert got == {1: [0], 2: [0, 1], 3: [0, 1, 2], 4: [0, 1, 2, 3], 5: [1, 2, 3, 4], 31: [30]}


def test_user_tokens_need_user_ids() -> None:
    model = Tiger(_table(n=50), TigerConfig(**{**TINY.to_dict(), "user_buckets": 10}))
    with pytest.raises(ConfigError, match="user ids"):
        model.training_examples([np.arange(5)])
    ex = model.examples([np.arange(5)], users=["alice"])
    batch = model.histories.collate(ex, np.arange(len(ex)))[0]
    assert (batch["input_ids"][:, 0] == model.vocab.user_tokens(["alice"])[0]).all()
    assert model.decode([np.arange(3)], users=["alice"]).shape == (1, 20)


# --- learning --------------------------------------------------------------------------------
def test_tiny_t5_learns_a_deterministic_cycle() -> None:
    """30 items, 2-level SIDs; users walk item i -> i+1 (mod 30), so the next SID follows from the last."""
    n = 30
    table = SIDTable.from_codes(
        np.arange(n), np.array([[i // 6, i % 6] for i in range(n)]), 6, disambiguate=False
    )
    rng = np.random.default_rng(0)
    seqs = [(s + np.arange(rng.integers(6, 12))) % n for s in rng.integers(0, n, size=60)]
    train = [s[:-2] for s in seqs]
    valid = EvalSet([s[:-2] for s in seqs], np.array([s[-2] for s in seqs]))
    test = EvalSet([s[:-1] for s in seqs], np.array([s[-1] for s in seqs]))
    # max_items=4: training prefixes cover every history length the test uses (T5 does not
    # extrapolate to longer histories than it was trained on)
    config = TigerConfig(**{**TINY.to_dict(), "dropout": 0.0, "d_model": 48, "d_ff": 96, "max_items": 4})
    model = Tiger(table, config)
    untrained = Trainer(model, TrainConfig(progress=False)).evaluate(test)
    result = Trainer(
        model, TrainConfig(epochs=10, batch_size=16, lr=5e-3, eval_every=10, progress=False)
    ).fit(train, valid, test)
    assert result.test["recall@10"] > 0.9, result.test
    assert result.test["ndcg@5"] > untrained["ndcg@5"] + 0.3, (untrained, result.test)
