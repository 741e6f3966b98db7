"""TIGER's speed levers: each switch keeps what the code path before it computed (docs/judges.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.models.t5.modeling_t5 import T5DenseActDense

from quasid.errors import ConfigError
from quasid.rec.dropout import FastDropout
from quasid.rec.evaluate import TrainConfig, Trainer
from quasid.rec.tiger import LEVERS_OFF, Tiger, TigerConfig, TrieConstraint
from quasid.rec.tiger.beam import TrieBeamSearch
from quasid.rec.tiger.dropout import fast_attention
from quasid.rec.tiger.lean import LeanDenseActDense
from quasid.sid.table import SIDTable

SMALL = TigerConfig(d_model=32, num_encoder_layers=2, num_decoder_layers=2, num_heads=2, d_kv=16, d_ff=64)


def _model(n: int, k: int, dedup: bool = True, **config: object) -> Tiger:
    codes = np.random.default_rng(k).integers(0, k, size=(n, 3))
    table = SIDTable.from_codes(np.arange(n), codes, k, disambiguate=dedup)
    model = Tiger(table, dataclasses.replace(SMALL, **config)).eval()
    with torch.no_grad():  # sharp random logits: strong, distinct opinions, few near-ties
        model.t5.lm_head.weight.mul_(20.0)
    return model


def _histories(n_items: int, count: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, n_items, size=rng.integers(1, 30)) for _ in range(count)]


@pytest.mark.parametrize(
    ("n", "k", "dedup"), [(400, 16, True), (400, 3, True), (12, 2, True), (300, 6, False)]
)
def test_trie_beam_search_equals_generate(n: int, k: int, dedup: bool) -> None:
    """Same beams in the same order as generate()'s constrained beam search, same scores to float error.

    (400, 3): fewer first-level paths than beams; (12, 2): fewer items than beams (dead beams).
    """
    model = _model(n, k, dedup)
    ids, mask = model.histories.encode(_histories(n))
    with torch.no_grad():
        out = model.t5.generate(
            input_ids=ids,
            attention_mask=mask,
            generation_config=model.generation_config(20),
            logits_processor=LogitsProcessorList([TrieConstraint(model.trie)]),
            output_scores=True,
            return_dict_in_generate=True,
        )
        leaves, scores = TrieBeamSearch(model.t5, model.trie).search(ids, mask, 20)
    hf_leaves = model.trie.leaves(out.sequences[:, 1 : 1 + model.vocab.sid_length]).reshape(len(ids), 20)
    hf_scores = out.sequences_scores.view(len(ids), 20)
    live = hf_scores > -1e8  # generate() marks beams it could not fill with -1e9
    np.testing.assert_array_equal(leaves.numpy()[live.numpy()], hf_leaves[live.numpy()])
    assert (leaves[~live] == -1).all() and torch.isinf(scores[~live]).all()
    torch.testing.assert_close(scores[live], hf_scores[live], rtol=1e-5, atol=1e-3)


def test_decode_switch_gives_the_same_rankings() -> None:
    trie_model = _model(300, 8)
    gen_model = _model(300, 8, beam_search="generate", decode_batch_size=5)
    gen_model.load_state_dict(trie_model.state_dict())
    hist = _histories(300, 20)
    np.testing.assert_array_equal(trie_model.decode(hist), gen_model.decode(hist))
    np.testing.assert_array_equal(trie_model.recommend(hist, k=10), gen_model.recommend(hist, k=10))


def test_fast_dropout_model_computes_the_stock_t5_loss() -> None:
    """With a drop rate too small to drop anything, the fast path (eager attention) equals stock T5's loss."""
    kw = {"dropout": 1e-9, "bf16": False, "sortish": False}
    stock = _model(200, 8, fast_dropout=False, **kw)
    fast = _model(200, 8, fast_dropout=True, **kw)
    assert any(isinstance(m, FastDropout) for m in fast.t5.modules())
    assert not any(isinstance(m, FastDropout) for m in stock.t5.modules())
    ex = stock.examples([np.arange(12), np.arange(5, 30)])
    batch = stock.histories.collate(ex, np.arange(len(ex)), 4)
    for train in (True, False):
        stock.train(train)
        fast.train(train)
        torch.testing.assert_close(fast.training_loss(batch), stock.training_loss(batch))
    fast.train()
    with_dropout = dataclasses.replace(fast.config, dropout=0.5)
    noisy = Tiger(_table(), with_dropout).train()
    torch.manual_seed(1)
    a = noisy.training_loss(noisy.histories.collate(noisy.examples([np.arange(30)]), np.arange(29)))
    torch.manual_seed(2)
    b = noisy.training_loss(noisy.histories.collate(noisy.examples([np.arange(30)]), np.arange(29)))
    assert not torch.equal(a, b)  # dropout does drop at p = 0.5


def test_fast_attention_keeps_sdpa_float32_arithmetic_under_bf16_autocast() -> None:
    """Stock T5 trains through SDPA, which computes attention in float32 even from bf16 inputs; the
    fast path must too. Its eager attention in bf16 (scores and weights rounded to 8 bits) erred 16x
    more than SDPA here, and cells trained with it scored lower (docs/judges.md)."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(8, 4, 20, 32).mul(s).bfloat16() for s in (2.0, 2.0, 1.0))
    bias = torch.randn(1, 4, 20, 20)
    exact = torch.softmax(q.double() @ k.double().transpose(2, 3) + bias.double(), -1) @ v.double()
    exact = exact.transpose(1, 2)  # [b, q, H, d], as both functions return it
    module = torch.nn.Module().train()
    module.is_causal = False  # an encoder's self-attention: the bias is the only mask
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, _ = fast_attention(module, q, k, v, None, scaling=1.0, dropout=1e-9, position_bias=bias)
        stock, _ = sdpa_attention_forward(
            module, q, k, v, None, scaling=1.0, dropout=1e-9, position_bias=bias
        )
    assert fast.dtype == stock.dtype == torch.bfloat16
    sdpa_error = (stock.double() - exact).abs().max().item()
    assert (fast.double() - exact).abs().max().item() <= 1.5 * sdpa_error  # bf16 output rounding only


def _table() -> SIDTable:
    codes = np.random.default_rng(8).integers(0, 8, size=(200, 3))
    return SIDTable.from_codes(np.arange(200), codes, 8, disambiguate=True)


def test_sortish_batches_group_similar_lengths() -> None:
    seqs = [np.arange(np.random.default_rng(i).integers(3, 40)) % 200 for i in range(80)]
    on = Tiger(_table(), dataclasses.replace(SMALL, sortish=True))
    off = Tiger(_table(), dataclasses.replace(SMALL, **LEVERS_OFF))
    assert hasattr(on, "example_length") and not hasattr(off, "example_length")
    spread = {}
    for name, model in (("on", on), ("off", off)):
        trainer = Trainer(model, TrainConfig(batch_size=32, bucket=20, progress=False))
        examples = trainer.examples(seqs)
        widths = []
        for batch in trainer.batches(examples, epoch=1):
            lengths = [int(p["attention_mask"].sum(1).min()) for p in batch]
            widths.append(max(p["input_ids"].shape[1] for p in batch) - min(lengths))
        spread[name] = np.mean(widths)
    assert spread["on"] < spread["off"] / 2  # a sortish batch pads far less


def test_lever_fields_are_validated() -> None:
    with pytest.raises(ConfigError, match="beam_search"):
        TigerConfig(beam_search="greedy").validate()
    with pytest.raises(ConfigError, match="micro_batch"):
        TigerConfig(micro_batch=0).validate()
    off = TigerConfig(**LEVERS_OFF)
    off.validate()
    assert off.beam_search == "generate" and not off.bf16 and not off.fast_dropout and not off.sortish


def test_lean_feed_forward_computes_the_stock_block_bit_for_bit() -> None:
    """The feed-forward without T5's bf16 -> fp32 -> bf16 round trip: the same loss and gradients,
    exactly, under bf16 autocast and in float32."""
    for bf16 in (True, False):
        kw = {"dropout": 0.0, "bf16": bf16, "sortish": False}
        lean, stock = _model(200, 8, **kw).train(), _model(200, 8, **kw).train()
        assert sum(type(m) is LeanDenseActDense for m in lean.t5.modules()) == 4  # 2 + 2 blocks
        for m in stock.t5.modules():
            if type(m) is LeanDenseActDense:
                m.__class__ = T5DenseActDense
        ex = lean.examples([np.arange(12), np.arange(5, 30)])
        batch = lean.histories.collate(ex, np.arange(len(ex)), 4)
        losses = []
        for model in (lean, stock):
            loss = model.training_loss(batch)
            loss.backward()
            losses.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
        assert torch.equal(losses[0][0], losses[1][0])
        for a, b in zip(losses[0][1], losses[1][1], strict=True):
            assert torch.equal(a, b)
