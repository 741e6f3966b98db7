"""Conflict-aware last-level resolution: which items move, where to, and what never changes."""

import numpy as np

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.synthetic import make_synthetic
from quasid.metrics import sid_metrics
from quasid.qualify.resolution import benign_components, resolve_last_level
from quasid.tokenizers import RQVAE, QuaSID, QuaSIDSeverity, RQVAEResolve, SIDTokenizer

FAST = {"codebook_size": 8, "epochs": 4, "batch_size": 128, "latent_dim": 8, "warmup_epochs": 1}


def test_benign_components_link_transitively_but_only_within_a_sid():
    codes = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [1, 1]])
    content = np.array([7, 7, 8, 9, 7])  # items 0, 1 same content; item 4 same content but other SID
    group = np.array([10, 11, 12, 12, 13])  # items 2, 3 same catalog group
    comp = benign_components(codes, {"content": content, "group": group})
    assert comp[0] == comp[1] and comp[2] == comp[3]
    assert len({comp[0], comp[2], comp[4]}) == 3


def test_resolve_moves_the_far_component_to_the_nearest_free_code_and_keeps_the_prefix():
    codebook = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    codes = np.array([[3, 0], [3, 0], [3, 0], [3, 1], [4, 2]])
    residuals = np.array([[0.0, 0.0], [0.1, 0.0], [0.4, 0.6], [1.0, 0.0], [0.0, 1.0]])
    comp = np.array([0, 0, 1, 2, 3])  # items 0 and 1 are benign-linked (e.g. identical content)
    res = resolve_last_level(codes, residuals, codebook, comp)
    # the pair nearest code 0 keeps it; item 2 is nearest code 2 (free under prefix 3; code 1 is taken)
    np.testing.assert_array_equal(res.codes[:, 0], codes[:, 0])
    assert res.codes[:3, 1].tolist() == [0, 0, 2]
    assert res.moved.tolist() == [2]
    assert res.stats == {"n_conflicted_sids": 1, "n_moved_items": 1, "n_unresolved": 0}
    np.testing.assert_array_equal(res.codes[3:], codes[3:])


def test_components_move_whole_and_a_full_prefix_is_left_to_the_disambiguation_token():
    codebook = np.eye(2)
    codes = np.array([[0, 0], [0, 0], [0, 0], [0, 0]])
    residuals = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 0.9]])
    comp = np.array([0, 1, 1, 2])
    res = resolve_last_level(codes, residuals, codebook, comp)
    # component {1, 2} moves whole to code 1, where its residuals lie; K = 2 codes leave item 3 unresolved
    assert res.codes[0, 1] == 0 and res.codes[1, 1] == res.codes[2, 1] == 1
    assert res.codes[3, 1] == 0 and res.stats["n_unresolved"] == 1


def test_no_collisions_no_change():
    codes = np.array([[0, 1], [0, 2], [1, 1]])
    res = resolve_last_level(codes, np.zeros((3, 2)), np.zeros((4, 2)), np.arange(3))
    np.testing.assert_array_equal(res.codes, codes)
    assert res.stats["n_conflicted_sids"] == 0 and len(res.moved) == 0


def _planted(seed: int = 0) -> Dataset:
    """Pairs of distinct items with almost the same content (variants) and pairs of exact duplicates."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(60, 16)).astype(np.float32)
    variants = base[:30] + 1e-3 * rng.normal(size=(30, 16)).astype(np.float32)
    duplicates = base[30:].copy()
    x = np.concatenate([base, variants, duplicates])
    texts = [f"item {i}" for i in range(60)] + [f"variant {i}" for i in range(30)]
    texts += [f"item {i}" for i in range(30, 60)]  # exact duplicates: same text as their original
    ids = [f"i{k}" for k in range(len(x))]
    return Dataset(Catalog(item_ids=ids, texts=texts, embeddings=x, name="planted"))


def test_resolution_splits_variants_and_keeps_duplicates_together(tmp_path):
    data = _planted()
    params = {**FAST, "codebook_size": 16, "epochs": 3}
    plain = RQVAE(**{k: v for k, v in params.items() if k != "warmup_epochs"}).fit(data)
    before = sid_metrics(plain.encode(data), 16, data.catalog)
    tok = RQVAEResolve(**params).fit(data)
    codes = tok.encode(data)
    after = sid_metrics(codes, 16, data.catalog)
    assert before["harmful_collision_rate"] > 0.3  # the variants collide with their originals
    assert after["harmful_collision_rate"] == 0.0
    dup = np.arange(30, 60)
    np.testing.assert_array_equal(codes[dup], codes[dup + 60])  # benign duplicates share their SID
    np.testing.assert_array_equal(codes[:, :2], tok._raw_codes(data, 1024)[:, :2])  # prefixes kept
    loaded = SIDTokenizer.load(tok.save(tmp_path / "r.pt"))
    np.testing.assert_array_equal(loaded.encode(data), codes)


def test_resolve_benign_gives_duplicates_their_own_sids_under_the_same_prefix():
    data = _planted()
    params = {**FAST, "codebook_size": 16, "epochs": 3}
    tok = RQVAEResolve(**params, resolve_benign=True).fit(data)
    codes = tok.encode(data)
    assert len(np.unique(codes, axis=0)) == len(codes)  # 16 last codes per prefix leave room for all
    dup = np.arange(30, 60)
    np.testing.assert_array_equal(codes[dup, :2], codes[dup + 60, :2])  # duplicates stay side by side
    np.testing.assert_array_equal(codes[:, :2], tok._raw_codes(data, 1024)[:, :2])


def test_new_items_get_raw_codes_and_our_reading_resolves_by_default():
    data = make_synthetic(n_items=300, n_users=250, seed=0)
    assert not QuaSID.config_class().resolve_conflicts  # the public reading keeps native SIDs
    tok = QuaSIDSeverity(**FAST).fit(data)
    assert tok.config.resolve_conflicts and set(tok.resolution_stats_) >= {"n_moved_items"}
    cat = data.catalog
    moved = tok.resolved_rows_
    if len(moved):
        row = int(moved[0])
        new = Dataset(Catalog(item_ids=["unseen"], embeddings=cat.embeddings[row : row + 1], name="new"))
        # an unseen item with a moved item's content gets the quantizer's code, not the moved one
        assert tok.encode(new)[0, -1] != tok.encode(data)[row, -1] or tok.collab_ is not None
