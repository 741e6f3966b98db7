"""Embedding streams: chunked .npy / Parquet reads, streamed encode == in-memory encode, bounded memory."""

import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quasid.data.stream import EmbeddingStream, is_embedding_file, open_embeddings
from quasid.errors import ConfigError, DataError
from quasid.tokenizers import RQVAE, RQKMeans

N, D = 3000, 12


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, D)) * 3
    return (centres[rng.integers(0, 10, N)] + rng.normal(size=(N, D))).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory, x) -> dict[str, object]:
    """The same matrix as .npy, Parquet list / fixed-size-list / float columns (small row groups)."""
    d = tmp_path_factory.mktemp("emb")
    ids = [f"item{i}" for i in range(N)]
    np.save(d / "x.npy", x)
    np.save(d / "x64f.npy", np.asfortranarray(x.astype(np.float64)))
    pq.write_table(
        pa.table({"item_id": ids, "embedding": pa.array(list(x), pa.list_(pa.float32()))}),
        d / "list.parquet",
        row_group_size=700,
    )
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), D)
    pq.write_table(pa.table({"item_id": ids, "vec": fixed}), d / "fixed.parquet")
    pq.write_table(pa.table({"item_id": ids, **{f"f{j}": x[:, j] for j in range(D)}}), d / "cols.parquet")
    return {"dir": d, "ids": ids}


SOURCES = ["x.npy", "x64f.npy", "list.parquet", "fixed.parquet", "cols.parquet"]


@pytest.mark.parametrize("name", SOURCES)
def test_chunks_cover_every_row_in_order_and_never_exceed_the_chunk_size(files, x, name):
    stream = open_embeddings(files["dir"] / name, chunk_size=256)
    seen = []
    for start, rows in stream.chunks():
        assert rows.dtype == np.float32 and rows.shape[1] == D and len(rows) <= 256
        assert start == sum(len(r) for r in seen)
        seen.append(rows)
    np.testing.assert_allclose(np.concatenate(seen), x, rtol=1e-6)
    assert stream.max_rows_read <= 256 and (stream.n_rows, stream.dim) == (N, D)


def test_ids_come_from_the_id_column_or_the_row_numbers(files):
    assert open_embeddings(files["dir"] / "list.parquet").item_ids().tolist() == files["ids"]
    assert open_embeddings(files["dir"] / "x.npy").item_ids()[[0, -1]].tolist() == ["0", str(N - 1)]
    given = open_embeddings(files["dir"] / "x.npy", ids=np.arange(N) + 100)
    assert given.item_ids()[0] == "100"


@pytest.mark.parametrize(
    "tokenizer",
    [
        lambda: RQKMeans(codebook_size=16, n_levels=3),
        lambda: RQVAE(codebook_size=16, epochs=1, hidden_dims=[32], latent_dim=8, batch_size=512),
    ],
    ids=["rqkmeans", "rqvae"],
)
def test_streamed_encode_equals_in_memory_encode(files, x, tokenizer):
    tok = tokenizer().fit(x)
    expected = tok.encode(x)
    for name in SOURCES:
        np.testing.assert_array_equal(
            tok.encode(open_embeddings(files["dir"] / name, chunk_size=123)), expected
        )
    np.testing.assert_array_equal(tok.encode(EmbeddingStream.from_array(x, chunk_size=7)), expected)


def test_streamed_encode_of_a_npy_file_holds_one_chunk_not_the_file(tmp_path):
    rng = np.random.default_rng(1)
    big = rng.normal(size=(40000, 32)).astype(np.float32)  # 5.1 MB on disk
    np.save(tmp_path / "big.npy", big)
    tok = RQKMeans(codebook_size=8, n_levels=2, n_iter=2).fit(big[:2000])
    del big
    stream = open_embeddings(tmp_path / "big.npy", chunk_size=500)  # 64 KB chunks
    tracemalloc.start()
    codes = tok.encode(stream)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert codes.shape == (40000, 2)
    # the [N, L] int64 codes (640 KB) plus a few chunk-sized buffers; the file is 5.1 MB
    assert peak < codes.nbytes + 1_000_000, peak
    assert stream.max_rows_read == 500


def test_sample_is_uniform_seeded_and_read_in_one_pass(files, x):
    stream = open_embeddings(files["dir"] / "list.parquet", chunk_size=300)
    rows_a, idx_a = stream.sample(500, seed=3)
    _, idx_b = stream.sample(500, seed=3)
    np.testing.assert_array_equal(idx_a, idx_b)
    assert len(np.unique(idx_a)) == 500 and np.all(np.diff(idx_a) > 0)
    np.testing.assert_array_equal(rows_a, x[idx_a])
    assert stream.max_rows_read <= 300
    everything, idx = stream.sample(10 * N)
    np.testing.assert_array_equal(idx, np.arange(N))
    np.testing.assert_array_equal(everything, x)


def test_fit_on_a_stream_trains_on_a_bounded_sample(files, x):
    stream = open_embeddings(files["dir"] / "x.npy", chunk_size=400)
    whole = RQKMeans(codebook_size=16).fit(stream)  # sample_size >= N: every row, in order
    np.testing.assert_array_equal(whole.codebooks_, RQKMeans(codebook_size=16).fit(x).codebooks_)
    sampled = RQVAE(codebook_size=8, epochs=1, hidden_dims=[16], latent_dim=4).fit(stream, sample_size=500)
    assert sampled.encode(stream).shape == (N, 3)
    assert stream.max_rows_read <= 400


def test_embedding_files_are_told_apart_from_dataset_tables(files, tmp_path):
    pq.write_table(pa.table({"user_id": ["u"], "item_id": ["i"]}), tmp_path / "log.parquet")
    assert is_embedding_file(files["dir"] / "x.npy") and is_embedding_file(files["dir"] / "list.parquet")
    assert not is_embedding_file(tmp_path / "log.parquet") and not is_embedding_file(tmp_path / "none.npy")


def test_bad_files_name_the_file_row_and_item(tmp_path, files, x):
    bad = x[:50].copy()
    bad[17, 3] = np.nan
    pq.write_table(
        pa.table({"item_id": [f"q{i}" for i in range(50)], "embedding": pa.array(list(bad))}),
        tmp_path / "n.parquet",
    )
    with pytest.raises(DataError, match=r"row 17 \(item 'q17'\) contains NaN"):
        RQKMeans(codebook_size=4).fit(x).encode(open_embeddings(tmp_path / "n.parquet", chunk_size=8))

    pq.write_table(pa.table({"embedding": pa.array([[1.0, 2.0], [1.0], [3.0, 4.0]])}), tmp_path / "r.parquet")
    with pytest.raises(DataError, match=r"row 1 .* has 1 values"):
        list(open_embeddings(tmp_path / "r.parquet").chunks())

    pq.write_table(
        pa.table({"item_id": ["a", "a"], "embedding": pa.array([[1.0], [2.0]])}), tmp_path / "d.parquet"
    )
    with pytest.raises(DataError, match=r"duplicate item ids \['a'\]"):
        open_embeddings(tmp_path / "d.parquet").item_ids()

    with pytest.raises(DataError, match="embedding column 'nope' not found"):
        open_embeddings(files["dir"] / "list.parquet", column="nope")
    with pytest.raises(DataError, match=r"\.npy or \.parquet"):
        (tmp_path / "x.csv").write_text("a\n1\n")
        open_embeddings(tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="chunk_size"):
        open_embeddings(files["dir"] / "x.npy", chunk_size=0)

    raw = (files["dir"] / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"cut\.npy"):
        list(open_embeddings(tmp_path / "cut.npy").chunks())

    tok = RQKMeans(codebook_size=4).fit(x[:, :5])
    with pytest.raises(DataError, match=r"dimension 12 but .* fitted on dimension 5"):
        tok.encode(open_embeddings(files["dir"] / "x.npy"))
