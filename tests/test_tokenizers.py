import numpy as np
import pytest
import torch

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError, NotFittedError
from quasid.tokenizers import RQVAE, RQKMeans, RQKMeansConfig, SIDTokenizer, get_tokenizer_class


def clustered(n=600, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, d)) * 3
    return (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize(
    "klass,extra", [(RQKMeans, {}), (RQVAE, {"epochs": 5, "batch_size": 128, "latent_dim": 8})]
)
def test_fit_encode_shapes_ranges_and_save_load(tmp_path, klass, extra):
    x = clustered()
    tok = klass(n_levels=3, codebook_size=16, **extra)
    codes = tok.fit_encode(x)
    assert codes.shape == (600, 3) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 16
    assert len({tuple(r) for r in codes}) > 100  # far from one cell
    path = tok.save(tmp_path / "tok.pt")
    loaded = SIDTokenizer.load(path)
    assert type(loaded) is klass
    np.testing.assert_array_equal(loaded.encode(x), codes)


@pytest.mark.parametrize(
    "klass,extra", [(RQKMeans, {}), (RQVAE, {"epochs": 3, "batch_size": 128, "latent_dim": 8})]
)
def test_same_seed_same_sids(klass, extra):
    x = clustered()
    a = klass(codebook_size=16, seed=3, **extra).fit_encode(x)
    b = klass(codebook_size=16, seed=3, **extra).fit_encode(x)
    np.testing.assert_array_equal(a, b)


def test_rqvae_training_reduces_reconstruction_loss():
    x = clustered()
    tok = RQVAE(codebook_size=16, epochs=15, batch_size=128, latent_dim=8).fit(x)
    assert tok.history_[-1]["recon"] < 0.7 * tok.history_[0]["recon"]


def test_fit_trains_whatever_grad_mode_the_caller_left():
    # e.g. a notebook where Ctrl-C landed inside a no-grad block and left grad off
    x = clustered()
    with torch.no_grad():
        tok = RQVAE(codebook_size=16, epochs=3, batch_size=128, latent_dim=8).fit(x)
        assert not torch.is_grad_enabled()
    assert tok.history_[-1]["recon"] < tok.history_[0]["recon"]


class Killer:
    """A zero-weight auxiliary loss that interrupts training at a given step, like a kill signal."""

    def __init__(self, at_step: int | None) -> None:
        self.at_step, self.step = at_step, 0

    def __call__(self, z, codes, idx):
        self.step += 1
        if self.at_step is not None and self.step == self.at_step:
            raise KeyboardInterrupt
        return z.sum() * 0.0


def test_rqvae_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    x = clustered()
    kw = {"codebook_size": 16, "epochs": 6, "batch_size": 128, "latent_dim": 8, "checkpoint_every": 2}
    full = RQVAE(**kw, auxiliary_losses={"k": (0.0, Killer(None))}).fit(x).encode(x)
    # 5 batches an epoch, a checkpoint every 2 epochs: step 18 falls in the 4th epoch, so the last
    # checkpoint on disk is the one written after epoch 2
    with pytest.raises(KeyboardInterrupt):
        RQVAE(**kw, auxiliary_losses={"k": (0.0, Killer(18))}).fit(x, checkpoint_dir=tmp_path)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 2
    resumed = RQVAE(**kw, auxiliary_losses={"k": (0.0, Killer(None))}).fit(
        x, checkpoint_dir=tmp_path, resume=True
    )
    assert [h["epoch"] for h in resumed.history_] == list(range(6))
    np.testing.assert_array_equal(resumed.encode(x), full)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot resume"):
        RQVAE(codebook_size=8, epochs=1).fit(clustered(n=100), checkpoint_dir=tmp_path, resume=True)


def test_auxiliary_loss_is_called_with_latents_codes_and_rows():
    seen = {}

    def probe(z, codes, idx):
        seen.setdefault("shapes", (tuple(z.shape), tuple(codes.shape), tuple(idx.shape)))
        return z.pow(2).mean()

    x = clustered(n=200)
    tok = RQVAE(
        codebook_size=8, epochs=1, batch_size=64, latent_dim=4, auxiliary_losses={"probe": (0.1, probe)}
    )
    tok.fit(x)
    assert seen["shapes"] == ((64, 4), (64, 3), (64,))
    assert "probe" in tok.history_[0]


def test_validation_messages_name_the_problem():
    x = clustered(n=50)
    with pytest.raises(ConfigError, match="codebook_size=64 is larger than the catalog"):
        RQKMeans(codebook_size=64).fit(x)
    with pytest.raises(ConfigError, match="n_levels"):
        RQKMeans(n_levels=0).fit(x)
    with pytest.raises(ConfigError, match="epochs"):
        RQVAE(epochs=0, codebook_size=8).fit(x)
    with pytest.raises(NotFittedError):
        RQKMeans().encode(x)
    tok = RQKMeans(codebook_size=8).fit(x)
    with pytest.raises(DataError, match="dimension 3 but this rqkmeans tokenizer was fitted on dimension 16"):
        tok.encode(np.zeros((4, 3), np.float32))
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(DataError, match=r"NaN or inf \(rows \[7\]\)"):
        RQKMeans(codebook_size=8).fit(bad)
    with pytest.raises(DataError, match="has no embeddings"):
        RQKMeans(codebook_size=2).fit(Catalog(item_ids=["a", "b"]))
    with pytest.raises(ConfigError, match="unknown RQKMeansConfig parameter"):
        RQKMeansConfig.from_dict({"codebok_size": 3})
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        get_tokenizer_class("nope")
    with pytest.raises(DataError, match="no tokenizer file"):
        SIDTokenizer.load("/nonexistent/tokenizer.pt")


def test_loss_reduction_mean_is_the_element_mean_of_the_sums():
    # one full-batch step: both fits take their first record on the same initial model
    x = clustered(n=256)
    kw = dict(n_levels=3, codebook_size=16, epochs=1, batch_size=256, latent_dim=8, bf16=False, seed=1)
    total = RQVAE(**kw).fit(x).history_[0]
    mean = RQVAE(**kw, loss_reduction="mean").fit(x).history_[0]
    assert mean["recon"] == pytest.approx(total["recon"] / x.shape[1], rel=1e-5)
    for term in ("codebook", "commit"):
        assert mean[term] == pytest.approx(total[term] / (8 * 3), rel=1e-5)


def test_unknown_loss_reduction_is_refused_by_name():
    with pytest.raises(ConfigError, match="loss_reduction"):
        RQVAE(codebook_size=16, loss_reduction="max").fit(clustered(n=64))
