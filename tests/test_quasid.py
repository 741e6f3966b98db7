"""The QuaSID tokenizer: end-to-end training, ablations, collaborative input, persistence.

Most tests exercise our reading (``QuaSIDSeverity``: severity HMR, dual tower, resolution), whose
mechanisms the public reading (``QuaSID``'s defaults) leaves off; the public reading has its own."""

import numpy as np
import pytest

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.synthetic import make_synthetic
from quasid.errors import ConfigError
from quasid.tokenizers import RQVAECL, RQVAEHMR, QuaSID, QuaSIDSeverity, RQVAEHMRMask, SIDTokenizer
from quasid.tokenizers.quasid import interaction_factors
from test_tokenizers import Killer

FAST = {"codebook_size": 8, "epochs": 4, "batch_size": 128, "latent_dim": 8, "warmup_epochs": 1}


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_items=300, n_users=250, seed=0)


def test_full_quasid_trains_every_term_and_round_trips(tmp_path, data):
    tok = QuaSIDSeverity(**FAST, conflict_batches=True).fit(data)
    last = tok.history_[-1]
    assert {"recon", "hmr", "cl"} <= set(last)
    assert "hmr" not in tok.history_[0]  # repulsion waits for the warm-up
    codes = tok.encode(data)
    assert codes.shape == (300, 3) and codes.max() < 8
    loaded = SIDTokenizer.load(tok.save(tmp_path / "q.pt"))
    np.testing.assert_array_equal(loaded.encode(data), codes)


def test_same_seed_same_sids(data):
    np.testing.assert_array_equal(
        QuaSIDSeverity(**FAST).fit(data).encode(data), QuaSIDSeverity(**FAST).fit(data).encode(data)
    )


def test_collaborative_vectors_separate_identical_content_and_new_items_fall_back_to_content(data):
    tok = QuaSIDSeverity(**FAST).fit(data)
    rows = tok.rows_of(data)
    assert (rows.numpy() == np.arange(300)).all()
    assert tok.collab_ is not None and tok.collab_.weight.abs().sum() > 0  # trained by the dual tower
    cat = data.catalog
    new = Dataset(Catalog(item_ids=["new-1"], embeddings=cat.embeddings[:1], name="new"))
    assert tok.rows_of(new).tolist() == [-1]
    assert tok.encode(new).shape == (1, 3)


def test_ablation_presets():
    assert (RQVAEHMR.config_class().mask, RQVAEHMR.config_class().lambda_cl) == (False, 0.0)
    assert (RQVAEHMRMask.config_class().mask, RQVAEHMRMask.config_class().lambda_cl) == (True, 0.0)
    assert RQVAECL.config_class().lambda_hmr == 0.0


def test_content_only_catalog_trains_without_dual_tower_and_warns(data):
    content_only = Dataset(data.catalog)
    with pytest.warns(UserWarning, match="no user histories"):
        tok = QuaSIDSeverity(**FAST).fit(content_only)
    assert tok.collab_ is None and "cl" not in tok.history_[-1]


def test_bad_parameters_name_the_field(data):
    with pytest.raises(ConfigError, match="tau"):
        QuaSIDSeverity(**{**FAST, "tau": 5}).fit(data)
    with pytest.raises(ConfigError, match="mask_rules"):
        QuaSIDSeverity(**FAST, mask_rules=["nope"]).fit(data)
    with pytest.raises(ConfigError, match="interactions"):
        QuaSIDSeverity(**FAST, interactions="test").fit(data)
    with pytest.raises(ConfigError, match="collab_init"):
        QuaSIDSeverity(**FAST, collab_init="random").fit(data)


def test_killed_quasid_resumes_to_the_uninterrupted_result(tmp_path, data):
    """Conflict batches, the code memory and the dual tower's event sampling all replay after resume."""
    kw = {**FAST, "epochs": 5, "checkpoint_every": 2, "conflict_batches": True}
    full = QuaSIDSeverity(**kw, auxiliary_losses={"k": (0.0, Killer(None))}).fit(data).encode(data)
    with pytest.raises(KeyboardInterrupt):  # 3 batches an epoch: step 11 falls in the 4th epoch
        QuaSIDSeverity(**kw, auxiliary_losses={"k": (0.0, Killer(11))}).fit(data, checkpoint_dir=tmp_path)
    resumed = QuaSIDSeverity(**kw, auxiliary_losses={"k": (0.0, Killer(None))}).fit(
        data, checkpoint_dir=tmp_path, resume=True
    )
    np.testing.assert_array_equal(resumed.encode(data), full)


def test_conflict_batches_put_items_of_one_prefix_together(data):
    tok = QuaSIDSeverity(**{**FAST, "epochs": 2, "batch_size": 64}, conflict_batches=True).fit(data)
    assert tok._memory is not None and int(tok._memory.values.min()) >= 0
    import torch

    batches = tok._epoch_batches(5, torch.zeros(300, 1), torch.Generator().manual_seed(0))
    assert sorted(torch.cat(batches).tolist()) == list(range(300))
    prefix = [tuple(c) for c in tok._memory.values[:, :2].tolist()]
    batch_of = {int(r): b for b, rows in enumerate(batches) for r in rows}
    for p in set(prefix):
        rows = [r for r in range(300) if prefix[r] == p]
        if len(rows) <= 32:  # a small prefix group spans at most two adjacent cuts
            assert len({batch_of[r] for r in rows}) <= 2


def test_histories_too_short_to_split_fall_back_to_content_only(data):
    from quasid.data.interactions import Interactions

    cat = data.catalog
    short = Interactions.from_sequences([[0, 1], [2]], cat.n_items)
    with pytest.warns(UserWarning, match="no user histories"):
        tok = QuaSIDSeverity(**FAST).fit(Dataset(cat, short))
    assert tok.collab_ is None


def test_streamed_encode_equals_in_memory_encode(data):
    from quasid.data.stream import EmbeddingStream

    tok = QuaSIDSeverity(**FAST).fit(data)
    cat = data.catalog
    stream = EmbeddingStream.from_array(cat.embeddings, chunk_size=37, ids=cat.item_ids)
    np.testing.assert_array_equal(tok.encode(stream), tok.encode(data))


def test_encode_reads_each_items_own_collaborative_vector_and_resolved_token(data):
    import dataclasses

    import torch

    # ids that are not row numbers, so rows must be found by id
    cat = dataclasses.replace(data.catalog, item_ids=np.array([f"sku-{i}" for i in range(300)], dtype=object))
    data = dataclasses.replace(data, catalog=cat)
    tok = QuaSIDSeverity(**FAST).fit(data)
    x = data.catalog.embeddings
    codes = tok.encode(data)
    moved = tok.resolved_rows_
    np.testing.assert_array_equal(codes[moved, -1], tok.resolved_last_)
    with torch.no_grad():  # loud collaborative vectors: reading another row's (or none) changes codes
        tok.collab_.weight.normal_(0.0, 10.0, generator=torch.Generator().manual_seed(0))
    train_codes = tok._latent_codes(x, torch.arange(len(x)), 1024)[0]  # what training and resolution saw
    np.testing.assert_array_equal(tok._raw_codes(data, 1024), train_codes)


def test_interaction_factors_follow_who_bought_what():
    # users 0-1 buy items 0-2, users 2-3 buy items 3-5; item 6 is never bought
    sequences = [np.array([0, 1, 2]), np.array([2, 1, 0]), np.array([3, 4, 5]), np.array([5, 4, 3, 3])]
    f = interaction_factors(sequences, n_items=7, dim=2, seed=0)
    assert f.shape == (7, 2) and np.isclose(f[:6].std(), 1.0, atol=0.3)
    np.testing.assert_array_equal(f[6], 0.0)
    unit = f[:6] / np.linalg.norm(f[:6], axis=1, keepdims=True)
    sim = unit @ unit.T
    assert sim[0, 1] > 0.99 and sim[3, 5] > 0.99 and abs(sim[0, 3]) < 1e-3


def test_svd_collaborative_start_trains_and_is_reproducible(data):
    tok = QuaSIDSeverity(**FAST, collab_init="svd").fit(data)
    assert tok.collab_ is not None and tok.collab_.weight.abs().sum() > 0
    again = QuaSIDSeverity(**FAST, collab_init="svd").fit(data)
    np.testing.assert_array_equal(tok.encode(data), again.encode(data))


def test_the_default_is_the_public_reading_and_quasid_peer_is_its_earlier_name():
    from quasid.tokenizers import QuaSIDPeer

    assert QuaSIDPeer.config_class is QuaSID.config_class
    public, ours = QuaSID.config_class(), QuaSIDSeverity.config_class()
    assert (ours.hmr_scheme, ours.collab_objective, ours.collab_dim, ours.resolve_conflicts) == (
        "severity",
        "dual_tower",
        16,
        True,
    )
    assert (public.hmr_scheme, public.collab_dim, public.resolve_conflicts) == ("banded", 0, False)
    # the ablations take our reading apart, not the default
    assert RQVAEHMR.config_class().hmr_scheme == "severity"


def test_the_public_reading_trains_banded_hmr_and_item_to_item_infonce(tmp_path, data):
    cfg = QuaSID.config_class()
    assert (cfg.hmr_scheme, cfg.collab_objective, cfg.mask_rules) == (
        "banded",
        "cooccurrence",
        ["collab_positive"],
    )
    assert (cfg.margin, cfg.margin_partial, cfg.hmr_weight_full, cfg.hmr_weight_partial) == (
        0.8,
        0.5,
        0.2,
        0.1,
    )
    tok = QuaSID(**{**FAST, "warmup_epochs": 0}).fit(data)
    assert {"recon", "hmr", "cl"} <= set(tok.history_[0])  # both terms from the first epoch
    assert tok.history_[-1]["cl"] > 0 and tok.collab_ is None and tok.dual_tower_ is None
    assert tok.hmr_.scheme == "banded" and tok.hmr_.mask_context.collab_keys.numel() > 0
    codes = tok.encode(data)
    loaded = SIDTokenizer.load(tok.save(tmp_path / "peer.pt"))
    np.testing.assert_array_equal(loaded.encode(data), codes)
    plain = QuaSID(**{**FAST, "warmup_epochs": 0, "lambda_cl": 0.0}).fit(data)
    assert "cl" not in plain.history_[-1]
    assert not np.array_equal(plain.encode(data), codes)  # the item-to-item term moves the codes


def test_our_reading_with_the_cooccurrence_objective_keeps_its_collaborative_vectors(data):
    tok = QuaSIDSeverity(**FAST, collab_objective="cooccurrence").fit(data)
    assert tok.dual_tower_ is None and tok.collab_ is not None and tok.collab_.weight.abs().sum() > 0
    with pytest.raises(ConfigError, match="collab_objective"):
        QuaSIDSeverity(**FAST, collab_objective="swing").fit(data)
    with pytest.raises(ConfigError, match="hmr_scheme"):
        QuaSIDSeverity(**FAST, hmr_scheme="flat").fit(data)
