"""Every kind of bad input gives a catalogued error that names the problem and says what to do.

Each case below triggers one error through the public API and states what the
message must name (file, field, item id) and the fix it must give. Cases are
keyed by the error catalogue's codes (``quasid.errors.CATALOGUE``): every entry
has cases, every case's message matches its entry's pattern (and no earlier
entry's), so the catalogue and docs/errors.md cannot drift from the raise sites.
The CLI tests check the same errors reach a user as one ``error:`` line, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from quasid import pipeline
from quasid.cli import main
from quasid.config import EmbeddingConfig, RunConfig
from quasid.data import (
    Catalog,
    Dataset,
    Interactions,
    cold_start_split,
    leave_one_out,
    load_dataset,
    read_embeddings,
    read_lcrec,
    read_recbole,
    read_s3rec,
    read_table,
)
from quasid.errors import CATALOGUE, ConfigError, DataError, QuasidError, lookup, render_markdown
from quasid.rec import Checkpoint
from quasid.sid import SIDTable
from quasid.tokenizers import RQVAE, RQKMeans, SIDTokenizer, get_tokenizer_class
from test_cli import run_cli
from test_readers import write

ROOT = Path(__file__).resolve().parents[1]
SMALL = "synthetic:n_items=60,n_users=30"


@dataclass(frozen=True)
class Case:
    """One bad input: what to run, the error type it must raise, and what the message must name."""

    code: str
    name: str
    run: Callable[[Path], object]
    error: type[QuasidError]
    names: tuple[str, ...]


CASES: list[Case] = []


def case(code: str, error: type[QuasidError], *names: str) -> Callable[[Callable[[Path], object]], None]:
    def register(fn: Callable[[Path], object]) -> None:
        CASES.append(Case(code, fn.__name__, fn, error, names))

    return register


def lcrec(folder: Path, items: str | dict, inter: str | dict | None = None) -> Path:
    """An LC-Rec folder ``shop`` with the given item / interaction JSON (objects or raw text)."""
    write(folder / "shop.item.json", items if isinstance(items, str) else json.dumps(items))
    if inter is not None:
        write(folder / "shop.inter.json", inter if isinstance(inter, str) else json.dumps(inter))
    return folder


INTER = "user_id:token\titem_id:token\n"  # RecBole headers
ITEM = "item_id:token\ttitle:token_seq\n"


def recbole(folder: Path, inter: str | bytes, items: str | None = None) -> Path:
    """A RecBole folder ``shop`` with the given ``.inter`` (and ``.item``) text."""
    write(folder / "shop.inter", inter)
    if items is not None:
        write(folder / "shop.item", items)
    return folder


def s3rec(folder: Path, sequences: str | bytes, attributes: str | None = None) -> Path:
    """An S3-Rec folder with the given ``sequences.txt`` (and ``item_attributes.json``)."""
    write(folder / "sequences.txt", sequences)
    if attributes is not None:
        write(folder / "item_attributes.json", attributes)
    return folder


ITEMS = {"i1": {"title": "red mug"}, "i2": {"title": "blue mug"}, "i3": {"title": "teapot"}}


def clustered(n: int = 60, d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, d))[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)


def finished_run(tmp_path: Path) -> Path:
    """A finished run folder on the small synthetic catalog (RQ-KMeans: milliseconds)."""
    cfg = RunConfig(method="rqkmeans", data=SMALL).override(["tokenizer.codebook_size=8"])
    pipeline.fit(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run"


# ------------------------------------------------------------------ files and formats


@case("missing-file", DataError, "nowhere", "not a dataset name", "QUASID_DATA")
def dataset_path_that_does_not_exist(tmp_path: Path) -> object:
    return load_dataset(tmp_path / "nowhere")


@case("missing-file", DataError, "sequences.txt", "add it or fix the path")
def s3rec_folder_without_sequences(tmp_path: Path) -> object:
    write(tmp_path / "set" / "item_attributes.json", "{}")
    return read_s3rec(tmp_path / "set")


@case("missing-file", ConfigError, "none.toml", "does not exist")
def config_file_that_does_not_exist(tmp_path: Path) -> object:
    return RunConfig.load(tmp_path / "none.toml")


@case("unknown-format", DataError, "stuff", "notes.md", "S3-Rec", "format=")
def folder_of_an_unknown_layout(tmp_path: Path) -> object:
    write(tmp_path / "stuff" / "notes.md", "hello")
    return load_dataset(tmp_path / "stuff")


@case("non-utf8", DataError, "sequences.txt", "byte offset 4", "line 2", "iconv")
def latin1_sequences_file(tmp_path: Path) -> object:
    return read_s3rec(s3rec(tmp_path / "set", b"1 2\n\xe9 3\n"))


@case("non-utf8", DataError, "items.csv", "line 2", "re-encode the file as UTF-8")
def latin1_csv(tmp_path: Path) -> object:
    write(tmp_path / "items.csv", b"item_id,title\n1,caf\xe9\n")
    return read_table(items=tmp_path / "items.csv")


@case("non-utf8", DataError, "shop.inter", "line 2", "re-encode")
def latin1_recbole_file(tmp_path: Path) -> object:
    return read_recbole(recbole(tmp_path / "shop", b"user_id:token\titem_id:token\nu\xff\ti1\n"))


@case("malformed-json", DataError, "shop.item.json:2:", "json.tool")
def lcrec_item_file_with_a_syntax_error(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", '{"i1": {"title": "mug"},\n "i2": {"title": }}'))


@case("malformed-json", DataError, "item_attributes.json:1:", "malformed JSON")
def s3rec_attributes_with_a_syntax_error(tmp_path: Path) -> object:
    return read_s3rec(s3rec(tmp_path / "set", "1 2 3\n", '{"2": [1,}'))


@case("malformed-table", DataError, "log.csv:3", "3 fields but the header has 2", "quote values")
def csv_row_with_too_many_fields(tmp_path: Path) -> object:
    write(tmp_path / "log.csv", "user_id,item_id\n1,2\n1,2,3\n")
    return read_table(interactions=tmp_path / "log.csv")


@case("malformed-table", DataError, "items.parquet", "re-export")
def parquet_file_that_is_not_parquet(tmp_path: Path) -> object:
    write(tmp_path / "items.parquet", b"item_id,title\n1,mug\n")
    return read_table(items=tmp_path / "items.parquet")


@case("malformed-table", DataError, "half.parquet", "re-export")
def truncated_parquet_file(tmp_path: Path) -> object:
    pq.write_table(pa.table({"item_id": [str(i) for i in range(500)]}), tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    write(tmp_path / "half.parquet", data[: len(data) // 2] + data[-8:])
    return read_table(items=tmp_path / "half.parquet")


@case("malformed-table", DataError, "sids.parquet", "not a readable Parquet")
def sid_table_that_is_not_parquet(tmp_path: Path) -> object:
    write(tmp_path / "sids.parquet", "item_id,sid_0\n")
    return SIDTable.from_parquet(tmp_path / "sids.parquet")


@case("malformed-table", DataError, "emb.npy", "numpy.save")
def embedding_file_that_is_not_npy(tmp_path: Path) -> object:
    write(tmp_path / "emb.npy", "0.1,0.2\n")
    return read_embeddings(tmp_path / "emb.npy", Catalog(item_ids=["a"]))


@case("empty-file", DataError, "log.csv", "file is empty")
def empty_csv(tmp_path: Path) -> object:
    write(tmp_path / "log.csv", "")
    return read_table(interactions=tmp_path / "log.csv")


@case("empty-file", DataError, "log.parquet", "no rows")
def parquet_with_a_header_and_no_rows(tmp_path: Path) -> object:
    pq.write_table(pa.table({"user_id": pa.array([], pa.string())}), tmp_path / "log.parquet")
    return read_table(interactions=tmp_path / "log.parquet")


@case("empty-file", DataError, "shop.item.json", "file is empty")
def empty_json_file(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", "  \n"))


@case("malformed-record", DataError, "sequences.txt:2", "'x7'", "integer ids")
def s3rec_line_with_a_non_integer_id(tmp_path: Path) -> object:
    return read_s3rec(s3rec(tmp_path / "set", "1 2 3\n2 x7 4\n"))


@case("malformed-record", DataError, "shop.inter:3", "3 tab-separated fields", "header has 2")
def recbole_row_with_a_stray_tab(tmp_path: Path) -> object:
    return read_recbole(recbole(tmp_path / "shop", INTER + "u1\ti1\nu2\ti2\textra\n"))


@case("malformed-record", DataError, "shop.item.json", "'i2'", "object of text fields")
def lcrec_item_that_is_not_an_object(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", {"i1": {"title": "mug"}, "i2": "teapot"}))


@case("malformed-record", DataError, "items.parquet", "column 'vec'", "one list of floats per item")
def embedding_column_of_strings(tmp_path: Path) -> object:
    pq.write_table(pa.table({"item_id": ["a"], "vec": ["0.1,0.2"]}), tmp_path / "items.parquet")
    return read_table(items=tmp_path / "items.parquet", embedding_col="vec")


@case("missing-column", DataError, "log.csv", "'user_id'", "['user', 'item_id']", "user_col=")
def csv_without_the_user_column(tmp_path: Path) -> object:
    write(tmp_path / "log.csv", "user,item_id\n1,2\n")
    return read_table(interactions=tmp_path / "log.csv")


@case("missing-column", DataError, "shop.inter", "'item_id'", "rename the header field")
def recbole_file_without_the_item_column(tmp_path: Path) -> object:
    return read_recbole(recbole(tmp_path / "shop", "user_id:token\tproduct:token\nu1\ti1\n"))


@case("missing-column", DataError, "items.parquet", "'vec'", "pass its name")
def parquet_without_the_embedding_column(tmp_path: Path) -> object:
    pq.write_table(pa.table({"item_id": ["a"], "title": ["mug"]}), tmp_path / "items.parquet")
    return read_table(items=tmp_path / "items.parquet", embedding_col="vec")


# ------------------------------------------------------------------ ids


@case("duplicate-item-id", DataError, "catalog 'shop'", "['a']", "must be unique")
def catalog_with_a_repeated_id(tmp_path: Path) -> object:
    return Catalog(item_ids=["a", "b", "a"], name="shop")


@case("duplicate-item-id", DataError, "items.csv", "['1']", "drop or merge the repeated rows")
def item_table_with_a_repeated_id(tmp_path: Path) -> object:
    write(tmp_path / "items.csv", "item_id,title\n1,a\n2,b\n1,c\n")
    return read_table(items=tmp_path / "items.csv")


@case("duplicate-item-id", DataError, "shop.item", "['i1']", "drop or merge")
def recbole_item_file_with_a_repeated_id(tmp_path: Path) -> object:
    return read_recbole(recbole(tmp_path / "shop", INTER + "u1\ti1\n", ITEM + "i1\tmug\ni1\tcup\n"))


@case("duplicate-item-id", DataError, "item_attributes.json", "'02'", "appears twice")
def s3rec_attribute_keys_naming_one_item_twice(tmp_path: Path) -> object:
    return read_s3rec(s3rec(tmp_path / "set", "1 2 3\n", '{"2": [1], "02": [2]}'))


@case("duplicate-key", DataError, "shop.item.json", "['i1']", "merge or remove the repeats")
def json_object_with_a_repeated_item(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", '{"i1": {"title": "a"}, "i1": {"title": "b"}}'))


@case("duplicate-key", DataError, "sequences.txt:3", "user 1", "one line")
def s3rec_user_on_two_lines(tmp_path: Path) -> object:
    return read_s3rec(s3rec(tmp_path / "set", "1 2 3\n2 3 4\n1 5 6\n"))


@case("unknown-item", DataError, "shop.inter.json", "shop.item.json", "['i9']", "add them to the item file")
def lcrec_interactions_naming_an_unknown_item(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", ITEMS, {"u1": ["i1", "i9", "i2"]}))


@case("unknown-item", DataError, "log.csv", "items.csv", "['3']", "drop those interactions")
def table_interactions_naming_an_unknown_item(tmp_path: Path) -> object:
    write(tmp_path / "items.csv", "item_id,title\n1,a\n2,b\n")
    write(tmp_path / "log.csv", "user_id,item_id\nu,1\nu,3\n")
    return read_table(items=tmp_path / "items.csv", interactions=tmp_path / "log.csv")


@case("unknown-item", DataError, "shop.inter", "shop.item", "['i7']")
def recbole_interactions_naming_an_unknown_item(tmp_path: Path) -> object:
    return read_recbole(recbole(tmp_path / "shop", INTER + "u1\ti1\nu1\ti7\n", ITEM + "i1\tmug\n"))


@case("unknown-item", DataError, "catalog 'shop'", "['zz']", "add them to the catalog")
def lookup_of_an_unknown_item(tmp_path: Path) -> object:
    return Catalog(item_ids=["a", "b"], name="shop").index_of(["a", "zz"])


@case("unknown-item", DataError, "[5]", "catalog of 3 items")
def interactions_with_an_item_row_outside_the_catalog(tmp_path: Path) -> object:
    return Interactions.from_sequences([[0, 1, 5]], n_items=3)


@case("empty-catalog", DataError, "catalog 'shop'", "at least one item")
def catalog_without_items(tmp_path: Path) -> object:
    return Catalog(item_ids=[], name="shop")


@case("empty-catalog", DataError, "shop.item.json", "holds no items")
def lcrec_item_file_with_no_items(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", {}))


@case("empty-catalog", DataError, "sequences.txt", "only a user id")
def s3rec_sequences_with_no_items(tmp_path: Path) -> object:
    return read_s3rec(s3rec(tmp_path / "set", "1\n2\n"))


@case("too-few-events", DataError, "user 'u2'", "with 2", "on_short='drop'")
def user_too_short_for_leave_one_out(tmp_path: Path) -> object:
    log = Interactions.from_sequences([[0, 1, 2], [1, 2]], n_items=3, user_ids=["u1", "u2"])
    return leave_one_out(log, on_short="error")


@case("too-few-events", DataError, "at least 3 events", "2 users", "longer histories")
def every_user_too_short_for_leave_one_out(tmp_path: Path) -> object:
    return leave_one_out(Interactions.from_sequences([[0, 1], [2]], n_items=3))


@case("too-few-events", DataError, "at least 3 events", "cold-start", "lower min_events")
def every_user_too_short_for_cold_start(tmp_path: Path) -> object:
    return cold_start_split(Interactions.from_sequences([[0, 1], [2]], n_items=3))


# ------------------------------------------------------------------ embeddings


def _nan_rows(n: int, rows: list[int], d: int = 4) -> np.ndarray:
    emb = np.ones((n, d), np.float32)
    emb[rows, 1] = np.nan
    return emb


@case("nan-embeddings", DataError, "catalog 'shop'", "rows [1]", "['b']", "replace them with zeros")
def catalog_with_nan_embeddings(tmp_path: Path) -> object:
    return Catalog(item_ids=["a", "b", "c"], embeddings=_nan_rows(3, [1]), name="shop")


@case(
    "nan-embeddings", DataError, "emb.npy", "2 embedding row(s)", "['i1', 'i3']", "fix the feature pipeline"
)
def embedding_file_with_inf_rows(tmp_path: Path) -> object:
    emb = np.ones((3, 4), np.float32)
    emb[[0, 2], 0] = np.inf
    np.save(tmp_path / "emb.npy", emb)
    return read_embeddings(tmp_path / "emb.npy", Catalog(item_ids=["i1", "i2", "i3"]))


@case("nan-embeddings", DataError, "items.parquet", "column 'vec'", "['b']")
def embedding_column_with_nan(tmp_path: Path) -> object:
    vecs = [[1.0, 2.0], [float("nan"), 1.0]]
    pq.write_table(pa.table({"item_id": ["a", "b"], "vec": vecs}), tmp_path / "items.parquet")
    return read_table(items=tmp_path / "items.parquet", embedding_col="vec")


@case("nan-embeddings", DataError, "rows [7]")
def array_with_nan_given_to_a_tokenizer(tmp_path: Path) -> object:
    x = clustered()
    x[7, 3] = np.nan
    return RQKMeans(codebook_size=8).fit(x)


@case("embedding-shape", DataError, "emb.npy", "have 2 rows but there are 3 items", "one embedding row")
def embedding_file_with_too_few_rows(tmp_path: Path) -> object:
    np.save(tmp_path / "emb.npy", np.ones((2, 4), np.float32))
    return read_embeddings(tmp_path / "emb.npy", Catalog(item_ids=["a", "b", "c"]))


@case("embedding-shape", DataError, "2-D [n_items, dim]", "(3,)")
def embedding_vector_instead_of_matrix(tmp_path: Path) -> object:
    return Catalog(item_ids=["a", "b", "c"], embeddings=np.ones(3, np.float32))


@case("embedding-shape", DataError, "items.parquet", "ragged", "item 'b'", "same length")
def ragged_embedding_column(tmp_path: Path) -> object:
    vecs = [[1.0, 2.0], [3.0], [4.0, 5.0]]
    pq.write_table(pa.table({"item_id": ["a", "b", "c"], "vec": vecs}), tmp_path / "items.parquet")
    return read_table(items=tmp_path / "items.parquet", embedding_col="vec")


@case("dimension-mismatch", DataError, "dimension 8", "dimension 16", "same model")
def encoding_embeddings_of_another_dimension(tmp_path: Path) -> object:
    tok = RQKMeans(codebook_size=8).fit(clustered())
    return tok.encode(Catalog(item_ids=["a", "b"], embeddings=np.ones((2, 8), np.float32)))


@case("no-content", DataError, "catalog 'shop'", "quasid embed")
def tokenizer_fit_on_a_catalog_without_embeddings(tmp_path: Path) -> object:
    return RQKMeans(codebook_size=2).fit(Catalog(item_ids=["a", "b"], name="shop"))


@case("no-content", DataError, "'shop'", "no embeddings, text or attributes", "item text")
def pipeline_on_a_catalog_with_no_content_at_all(tmp_path: Path) -> object:
    return pipeline.prepare_embeddings(Dataset(Catalog(item_ids=["a"], name="shop")), EmbeddingConfig())


# ------------------------------------------------------------------ parameters


@case("levels-or-codebook-range", ConfigError, "n_levels", "[1, 16]", "got 0")
def zero_levels(tmp_path: Path) -> object:
    return RQKMeans(n_levels=0, codebook_size=8).fit(clustered())


@case("levels-or-codebook-range", ConfigError, "n_levels", "got 17")
def too_many_levels(tmp_path: Path) -> object:
    return RQKMeans(n_levels=17, codebook_size=8).fit(clustered())


@case("levels-or-codebook-range", ConfigError, "codebook_size", "[2, 65536]", "got 1")
def codebook_of_one(tmp_path: Path) -> object:
    return RQVAE(codebook_size=1).fit(clustered())


@case("codebook-too-large", ConfigError, "codebook_size=64", "60 items", "--codebook-size 32")
def codebook_larger_than_the_catalog(tmp_path: Path) -> object:
    return RQKMeans(codebook_size=64).fit(clustered())


@case("parameter-range", ConfigError, "epochs", ">= 1", "got 0")
def zero_epochs(tmp_path: Path) -> object:
    return RQVAE(epochs=0, codebook_size=8).fit(clustered())


@case("parameter-range", ConfigError, "embedding.attribute_dim", ">= 2")
def one_dimensional_attribute_embeddings(tmp_path: Path) -> object:
    return RunConfig().override(["embedding.attribute_dim=1"])


@case("parameter-range", ConfigError, "embedding.file", "'text'", "drop one")
def embedding_file_with_a_text_source(tmp_path: Path) -> object:
    return RunConfig().override(['embedding.file="e.npy"', 'embedding.source="text"'])


@case("parameter-range", ConfigError, "min_events=2", "at least 3 events per user")
def leave_one_out_with_too_small_a_minimum(tmp_path: Path) -> object:
    return leave_one_out(Interactions.from_sequences([[0, 1, 2]], n_items=3), min_events=2)


@case("parameter-range", ConfigError, "on_short='skip'", "['drop', 'error']")
def leave_one_out_with_an_unknown_policy(tmp_path: Path) -> object:
    return leave_one_out(Interactions.from_sequences([[0, 1, 2]], n_items=3), on_short="skip")


@case("malformed-record", DataError, "shop.inter.json", "JSON object", "wrap the entries")
def lcrec_interactions_that_are_a_list(tmp_path: Path) -> object:
    return read_lcrec(lcrec(tmp_path / "shop", ITEMS, '[["i1", "i2"]]'))


@case("unknown-name", ConfigError, "'nope'", "rqvae")
def unknown_method(tmp_path: Path) -> object:
    return get_tokenizer_class("nope")


@case("unknown-name", ConfigError, "['codebok_size']", "codebook_size")
def misspelt_tokenizer_parameter(tmp_path: Path) -> object:
    return pipeline.build_tokenizer("rqkmeans", {"codebok_size": 8}, seed=0)


@case("unknown-name", ConfigError, "['methd']", "'method'")
def misspelt_config_key(tmp_path: Path) -> object:
    return RunConfig.from_dict({"methd": "rqvae"})


@case("invalid-config", ConfigError, "bad.toml", "not valid TOML")
def config_file_with_a_syntax_error(tmp_path: Path) -> object:
    write(tmp_path / "bad.toml", "method = \n")
    return RunConfig.load(tmp_path / "bad.toml")


@case("invalid-config", ConfigError, "'epochs'", "tokenizer.epochs=50")
def override_without_a_value(tmp_path: Path) -> object:
    return RunConfig().override(["epochs"])


# ------------------------------------------------------------------ run folders


@case("run-folder-state", ConfigError, "run", "already holds a finished run", "--overwrite")
def fit_into_a_finished_run(tmp_path: Path) -> object:
    return pipeline.fit(RunConfig(method="rqkmeans", data=SMALL), finished_run(tmp_path), progress=False)


@case("run-folder-state", DataError, "half", "not a finished quasid run", "--resume")
def assign_from_an_unfinished_run(tmp_path: Path) -> object:
    (tmp_path / "half").mkdir()
    return pipeline.assign(tmp_path / "half")


@case("run-folder-state", ConfigError, "empty", "config.toml", "cannot resume")
def resume_of_a_folder_that_is_not_a_run(tmp_path: Path) -> object:
    (tmp_path / "empty").mkdir()
    return pipeline.fit(RunConfig(data=SMALL), tmp_path / "empty", progress=False, resume=True)


def cli_debug(*args: str) -> None:
    """``quasid --debug ARGS`` in process: the error leaves ``main`` as the exception itself."""
    argv = sys.argv
    sys.argv = ["quasid", "--debug", *args]
    try:
        main()
    finally:
        sys.argv = argv


@case("run-folder-state", ConfigError, "--resume", "own config.toml", "drop --method, -L/-K/--epochs")
def resume_with_options_that_would_change_the_run(tmp_path: Path) -> object:
    run = finished_run(tmp_path)
    return cli_debug("fit", "--resume", str(run), "-m", "rqvae", "--epochs", "3")


@case("run-folder-state", ConfigError, "--resume", "two run folders", "give one")
def resume_with_two_different_folders(tmp_path: Path) -> object:
    return cli_debug("fit", "--resume", str(tmp_path / "a"), "-o", str(tmp_path / "b"))


@case("missing-file", ConfigError, "cannot resume", "nowhere", "does not exist")
def resume_of_a_folder_that_does_not_exist(tmp_path: Path) -> object:
    return cli_debug("fit", "--resume", str(tmp_path / "nowhere"))


@case("unreadable-model", DataError, "tokenizer.pt", "not a readable quasid tokenizer")
def corrupt_tokenizer_file(tmp_path: Path) -> object:
    write(tmp_path / "tokenizer.pt", b"\x00" * 64)
    return SIDTokenizer.load(tmp_path / "tokenizer.pt")


@case("unreadable-model", DataError, "checkpoint.pt", "not a readable quasid checkpoint", "delete it")
def corrupt_checkpoint_on_resume(tmp_path: Path) -> object:
    write(tmp_path / "checkpoint.pt", b"PK\x03\x04 truncated")
    return RQVAE(codebook_size=8, epochs=2).fit(clustered(), checkpoint_dir=tmp_path, resume=True)


@case("unreadable-model", DataError, "cell.pt", "not a readable quasid checkpoint", "delete it")
def corrupt_recommender_checkpoint(tmp_path: Path) -> object:
    write(tmp_path / "cell.pt", b"\x00" * 64)
    return Checkpoint(tmp_path / "cell.pt", key="cell").load()


@case("unreadable-model", DataError, "cell.pt", "not a recommender's training state", "delete it")
def foreign_recommender_checkpoint(tmp_path: Path) -> object:
    torch.save({"epoch": 3}, tmp_path / "cell.pt")  # e.g. a tokenizer's checkpoint under the cell's name
    return Checkpoint(tmp_path / "cell.pt", key="cell").load()


@case("unreadable-model", DataError, "checkpoint.pt", "trained on other data", "--overwrite")
def checkpoint_resumed_on_embeddings_of_another_dimension(tmp_path: Path) -> object:
    kw = {"codebook_size": 8, "epochs": 2, "checkpoint_every": 1, "batch_size": 32}
    RQVAE(**kw).fit(clustered(d=16), checkpoint_dir=tmp_path)
    return RQVAE(**kw).fit(clustered(d=12), checkpoint_dir=tmp_path, resume=True)


# ------------------------------------------------------------------ the checks


@pytest.mark.parametrize("bad", CASES, ids=[f"{c.code}:{c.name}" for c in CASES])
def test_bad_input_raises_a_catalogued_error_naming_the_problem(bad: Case, tmp_path: Path) -> None:
    with pytest.raises(QuasidError) as info:
        bad.run(tmp_path)
    message = str(info.value)
    assert type(info.value) is bad.error, message
    entry = lookup(message)
    assert entry is not None and entry.code == bad.code, f"{message!r} catalogued as {entry}"
    assert isinstance(info.value, entry.kind)
    missing = [name for name in bad.names if name not in message]
    assert not missing, f"{message!r} does not name {missing}"


def test_every_catalogue_entry_is_triggered_by_a_case() -> None:
    codes = [e.code for e in CATALOGUE]
    assert len(set(codes)) == len(codes)
    assert set(codes) == {c.code for c in CASES}


def test_docs_errors_page_is_rendered_from_the_catalogue() -> None:
    page = ROOT / "docs" / "errors.md"
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/errors.md is out of date with quasid.errors.CATALOGUE: run `python -m quasid.errors`"
    )


# ------------------------------------------------------------------ any bytes at all

# Where each reader takes a file, and the other files it needs to get that far.
LAYOUTS: dict[str, tuple[str, dict[str, str], Callable[[Path], object]]] = {
    "s3rec sequences": ("sequences.txt", {}, read_s3rec),
    "s3rec attributes": ("item_attributes.json", {"sequences.txt": "1 2 3\n2 3\n"}, read_s3rec),
    "lcrec items": ("shop.item.json", {}, read_lcrec),
    "lcrec log": ("shop.inter.json", {"shop.item.json": json.dumps(ITEMS)}, read_lcrec),
    "recbole log": ("shop.inter", {}, read_recbole),
    "recbole items": ("shop.item", {"shop.inter": INTER + "u\t1\n"}, read_recbole),
    "csv log": ("log.csv", {}, lambda d: read_table(interactions=d / "log.csv", time_col=None)),
    "csv items": ("items.csv", {}, lambda d: read_table(items=d / "items.csv")),
    "parquet items": ("items.parquet", {}, lambda d: read_table(items=d / "items.parquet")),
}
# text that looks like the formats (ids, separators, brackets, quotes) reaches deeper than random bytes
FORMAT_TEXT = st.text(alphabet='0123456789 \t\n,:"{}[]-.eaiu_\\\xe9', max_size=120)
JSON_TEXT = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 12)
    | st.floats(allow_nan=False)
    | st.text("12ab", max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text("12ab", max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
).map(json.dumps)


@settings(max_examples=int(os.environ.get("QUASID_FUZZ_EXAMPLES", 100)), deadline=None)  # 3000: a deep run
@given(
    layout=st.sampled_from(sorted(LAYOUTS)),
    content=st.one_of(FORMAT_TEXT, JSON_TEXT, st.binary(max_size=120)),
)
def test_readers_parse_or_raise_data_error_on_any_content(layout: str, content: str | bytes) -> None:
    """Whatever a file holds, a reader returns a dataset or raises DataError: never another exception."""
    name, others, read = LAYOUTS[layout]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "shop"
        for other, text in others.items():
            write(folder / other, text)
        write(folder / name, content)
        try:
            read(folder)
        except DataError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip(), repr(str(exc))


# ------------------------------------------------------------------ the CLI


def _nan_embedding_file(tmp_path: Path) -> list[str]:
    np.save(tmp_path / "emb.npy", _nan_rows(60, [4]))
    return ["fit", SMALL, "-m", "rqkmeans", "-K", "8", "--embeddings", str(tmp_path / "emb.npy")]


def _lcrec_unknown_item(tmp_path: Path) -> list[str]:
    return ["fit", str(lcrec(tmp_path / "shop", ITEMS, {"u1": ["i1", "i9"]})), "-K", "2"]


def _lcrec_malformed(tmp_path: Path) -> list[str]:
    return ["fit", str(lcrec(tmp_path / "shop", '{"i1": {"title": "mug"},\n "i2": }')), "-K", "2"]


def _csv_missing_column(tmp_path: Path) -> list[str]:
    return ["fit", str(write(tmp_path / "log.csv", "user,item_id\n1,2\n")), "-K", "2"]


def _s3rec_latin1(tmp_path: Path) -> list[str]:
    return ["fit", str(s3rec(tmp_path / "set", b"1 2\n\xe9 3\n")), "-K", "2"]


CLI_CASES = {
    "nan-embeddings": (_nan_embedding_file, DataError, ["emb.npy", "rows [4]", "['5']"]),
    "unknown-item": (_lcrec_unknown_item, DataError, ["shop.inter.json", "['i9']"]),
    "malformed-json": (_lcrec_malformed, DataError, ["shop.item.json:2:"]),
    "codebook-too-large": (
        lambda p: ["fit", SMALL, "-m", "rqkmeans", "-K", "1000"],
        ConfigError,
        ["60 items"],
    ),
    "missing-column": (_csv_missing_column, DataError, ["log.csv", "'user_id'"]),
    "non-utf8": (_s3rec_latin1, DataError, ["sequences.txt", "line 2"]),
}


@pytest.mark.parametrize("code", sorted(CLI_CASES))
def test_cli_prints_one_error_line_and_exits_2(code: str, tmp_path: Path, monkeypatch, capsys) -> None:
    build, error, names = CLI_CASES[code]
    args = [*build(tmp_path), "-o", str(tmp_path / "run"), "--no-progress"]
    status, _, err = run_cli(monkeypatch, capsys, *args)
    lines = err.splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    message = lines[0].removeprefix("error: ")
    assert lookup(message) is not None and lookup(message).code == code, message
    assert all(name in message for name in names), message
    assert not (tmp_path / "run" / "run.json").exists()
    monkeypatch.setattr(sys, "argv", ["quasid", "--debug", *args])
    with pytest.raises(error):
        main()


def test_cli_fit_reads_an_embeddings_file_and_records_it(tmp_path: Path, monkeypatch, capsys) -> None:
    np.save(tmp_path / "emb.npy", clustered(n=60, d=8))
    args = ["fit", SMALL, "-m", "rqkmeans", "-K", "8", "--embeddings", str(tmp_path / "emb.npy")]
    status, _, err = run_cli(monkeypatch, capsys, *args, "-o", str(tmp_path / "run"), "--no-progress")
    assert status == 0, err
    cfg = RunConfig.load(tmp_path / "run" / "config.toml")
    assert cfg.embedding.file == str(tmp_path / "emb.npy")
    assert pipeline.load_run(tmp_path / "run")[1].input_dim_ == 8


def test_cli_error_in_a_real_process_is_one_line_without_traceback(tmp_path: Path) -> None:
    """The console path end to end (nothing else, e.g. a warning, reaches stderr); ``--debug`` is
    checked in process above: the exception leaves ``main`` and Python prints its traceback."""
    write(tmp_path / "sids.parquet", "not parquet\n")
    done = subprocess.run(
        [sys.executable, "-m", "quasid", "evaluate", str(tmp_path / "sids.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"},
    )
    err = done.stderr
    assert done.returncode == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "sids.parquet" in err and "Traceback" not in err
