"""The quarter-draw dropout (quasid.rec.dropout): a Bernoulli mask of the stock rate, and SASRec's switch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from quasid.data import leave_one_out
from quasid.rec import SASRec, Trainer
from quasid.rec.dropout import FastDropout, fast_dropout, keep_mask, use_fast_dropout
from quasid.rec.sasrec import LEVERS_OFF, SASRecConfig
from test_sasrec import FAST, N_ITEMS, cycle_interactions


def test_keep_mask_is_a_bernoulli_mask_of_the_right_rate() -> None:
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), 0.1, torch.device("cpu"), torch.float32)
    keep = 1.0 - round(0.1 * 65536) / 65536
    values = torch.unique(mask).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1.0 / keep)
    assert abs(float((mask == 0).float().mean()) - 0.1) < 2e-3
    assert abs(float(mask.mean()) - 1.0) < 3e-3  # inverted dropout keeps the expectation
    rows = (mask == 0).float().mean(1)  # no structure along the draw's int16 lanes
    assert float(rows.std()) < 0.02
    torch.manual_seed(0)
    again = keep_mask(torch.Size([1000, 1000]), 0.1, torch.device("cpu"), torch.float32)
    assert torch.equal(mask, again)  # the seeded torch generator drives it
    x = torch.randn(4, 7)
    assert fast_dropout(x, 0.1, training=False) is x
    assert torch.equal(fast_dropout(x, 1.0, training=True), torch.zeros_like(x))
    layer = FastDropout(0.3).eval()
    assert layer(x) is x


def test_use_fast_dropout_swaps_every_dropout_module_and_nothing_else() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.4), nn.ReLU()))
    assert use_fast_dropout(model) == 2
    swapped = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [type(m) for m in swapped] == [FastDropout, FastDropout]
    assert [m.p for m in swapped] == [0.2, 0.4]
    assert use_fast_dropout(model) == 0  # already swapped


def _batch(model: SASRec) -> dict[str, torch.Tensor]:
    trainer = Trainer(model, FAST)
    split = leave_one_out(cycle_interactions())
    return next(iter(trainer.batches(trainer.examples(split.train_sequences()), 1)))


def test_sasrec_fast_dropout_keeps_the_model_and_its_loss() -> None:
    """The switch changes how masks are drawn, nothing else: the same initial weights, the same loss
    where nothing is dropped (evaluation, or a drop rate too small to drop), and a real drop at p > 0."""
    fast = SASRec(N_ITEMS, dropout=1e-9, fast_dropout=True)
    stock = SASRec(N_ITEMS, dropout=1e-9)  # the default: torch's dropout
    assert sum(isinstance(m, FastDropout) for m in fast.modules()) == 1 + 3 * fast.config.layers
    assert not any(isinstance(m, FastDropout) for m in stock.modules())
    for a, b in zip(fast.state_dict().values(), stock.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    batch = _batch(fast)
    for train in (True, False):
        fast.train(train)
        stock.train(train)
        torch.testing.assert_close(fast.training_loss(batch), stock.training_loss(batch))
    noisy = SASRec(N_ITEMS, dropout=0.5, fast_dropout=True).train()
    torch.manual_seed(1)
    a = noisy.training_loss(batch)
    torch.manual_seed(2)
    b = noisy.training_loss(batch)
    torch.manual_seed(1)
    assert torch.equal(noisy.training_loss(batch), a)  # seeded by torch's generator
    assert not torch.equal(a, b)  # and it does drop


def test_sasrec_levers_off_is_the_code_path_before_the_levers() -> None:
    off = dataclasses.replace(SASRecConfig(), **LEVERS_OFF)
    off.validate()
    assert off.ce_chunk == 0 and not off.ce_bf16 and not off.fast_dropout
    model = SASRec(N_ITEMS, off)
    assert not any(isinstance(m, FastDropout) for m in model.modules())
    assert np.isfinite(model.training_loss(_batch(model)).item())
