"""Readers: exact parsing of each layout, and a precise DataError for each kind of bad input."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quasid.data import (
    Dataset,
    detect_format,
    leave_one_out,
    load_dataset,
    read_lcrec,
    read_recbole,
    read_s3rec,
    read_table,
)
from quasid.errors import ConfigError, DataError


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def external_sequences(ds: Dataset) -> dict[str, list[str]]:
    """User id -> item ids in time order, through the catalog (what the files said)."""
    assert ds.interactions is not None
    ids = ds.catalog.item_ids
    return {
        str(ds.interactions.user_ids[u]): [str(ids[i]) for i in seq]
        for u, seq in enumerate(ds.interactions.sequences())
    }


# ----------------------------------------------------------------------------- S3-Rec


@pytest.fixture
def s3rec_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "toyset"
    write(folder / "sequences.txt", "1 2 10 3\n2 3 3 2\n\n3 10 2 1 \n")
    write(folder / "item_attributes.json", json.dumps({"2": [1, 2], "10": [2], "3": [], "11": [3, 3]}))
    write(
        folder / "names.json",
        json.dumps(
            {"attribute_names": {"1": "Brand A", "2": "Makeup", "3": "Nails"}, "item_original_ids": {}}
        ),
    )
    return folder


def test_s3rec_reads_catalog_attributes_and_sequences(s3rec_dir: Path) -> None:
    ds = read_s3rec(s3rec_dir)
    cat = ds.catalog
    assert cat.name == "toyset"
    # union of sequence and attribute items, numeric (not lexical) order
    assert cat.item_ids.tolist() == ["1", "2", "3", "10", "11"]
    assert cat.attributes == [[], [1, 2], [], [2], [3, 3]]
    assert cat.attribute_names == {1: "Brand A", 2: "Makeup", 3: "Nails"}
    assert cat.text_fields == {}
    assert external_sequences(ds) == {"1": ["2", "10", "3"], "2": ["3", "3", "2"], "3": ["10", "2", "1"]}
    assert ds.interactions is not None
    assert ds.interactions.order.tolist() == [0, 1, 2] * 3


def test_s3rec_without_attribute_files(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "7 5 4\r\n8 4\r\n")
    ds = read_s3rec(tmp_path)
    assert ds.catalog.item_ids.tolist() == ["4", "5"]
    assert ds.catalog.attributes is None
    assert external_sequences(ds) == {"7": ["5", "4"], "8": ["4"]}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=30),
        min_size=1,
        max_size=25,
    )
)
def test_s3rec_round_trip(sequences: list[list[int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = [" ".join(map(str, [u + 1, *seq])) for u, seq in enumerate(sequences)]
        write(folder / "sequences.txt", "\n".join(lines) + "\n")
        ds = read_s3rec(folder)
    expected = {str(u + 1): [str(i) for i in seq] for u, seq in enumerate(sequences)}
    assert external_sequences(ds) == expected
    assert ds.catalog.item_ids.tolist() == [str(i) for i in sorted({i for s in sequences for i in s})]


def test_s3rec_missing_sequences_file(tmp_path: Path) -> None:
    write(tmp_path / "item_attributes.json", "{}")
    with pytest.raises(DataError, match=r"sequences\.txt.*missing"):
        read_s3rec(tmp_path)


def test_s3rec_non_integer_token_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "1 2 3\n2 4 x5 6\n")
    with pytest.raises(DataError, match=r"sequences\.txt:2: token 3 is 'x5', not an integer"):
        read_s3rec(tmp_path)


def test_s3rec_non_utf8_names_byte_offset(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", b"1 2 3\n2 \xff 4\n")
    with pytest.raises(DataError, match=r"sequences\.txt: not valid UTF-8 at byte offset 8 \(line 2"):
        read_s3rec(tmp_path)


def test_s3rec_malformed_attribute_json_names_line(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "1 2 3\n")
    write(tmp_path / "item_attributes.json", '{\n"2": [1],\n"3": [2,]\n}')
    with pytest.raises(DataError, match=r"item_attributes\.json:3:\d+: malformed JSON"):
        read_s3rec(tmp_path)


def test_s3rec_duplicate_item_in_attributes(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "1 2 3\n")
    write(tmp_path / "item_attributes.json", '{"2": [1], "2": [2]}')
    with pytest.raises(DataError, match=r"item_attributes\.json: duplicate key\(s\) \['2'\]"):
        read_s3rec(tmp_path)


def test_s3rec_bad_attribute_entry_names_item(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "1 2 3\n")
    write(tmp_path / "item_attributes.json", '{"2": [1], "3": "brand"}')
    with pytest.raises(DataError, match=r"item 3: expected a list of integer attribute ids"):
        read_s3rec(tmp_path)
    write(tmp_path / "item_attributes.json", '{"abc": [1]}')
    with pytest.raises(DataError, match=r"item id 'abc' is not an integer"):
        read_s3rec(tmp_path)


def test_s3rec_duplicate_user_line(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "1 2 3\n2 3\n1 4\n")
    with pytest.raises(DataError, match=r"sequences\.txt:3: user 1 already has a line \(1\)"):
        read_s3rec(tmp_path)


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_s3rec_empty_file(tmp_path: Path, content: str) -> None:
    write(tmp_path / "sequences.txt", content)
    with pytest.raises(DataError, match=r"sequences\.txt: file is empty"):
        read_s3rec(tmp_path)


def test_s3rec_empty_json_file(tmp_path: Path) -> None:
    write(tmp_path / "sequences.txt", "1 2\n")
    write(tmp_path / "item_attributes.json", "")
    with pytest.raises(DataError, match=r"item_attributes\.json: file is empty"):
        read_s3rec(tmp_path)


def test_s3rec_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        read_s3rec(tmp_path / "nope")


# ----------------------------------------------------------------------------- LC-Rec


def test_lcrec_reads_texts_and_interactions(tmp_path: Path) -> None:
    folder = tmp_path / "Games"
    items = {
        "0": {"title": "Zelda", "brand": "Nintendo", "categories": ["Games", "Switch"], "price": 59.9},
        "1": {"title": "Halo", "description": "Shooter"},
        "2": {"title": "Tetris", "brand": None},
    }
    write(folder / "Games.item.json", json.dumps(items))
    write(folder / "Games.inter.json", json.dumps({"0": [0, 1], "1": [2, 0, 1]}))
    ds = read_lcrec(folder)
    cat = ds.catalog
    assert cat.name == "Games"
    assert cat.item_ids.tolist() == ["0", "1", "2"]
    assert cat.text_fields == {
        "title": ["Zelda", "Halo", "Tetris"],
        "brand": ["Nintendo", "", ""],
        "categories": ["Games, Switch", "", ""],
        "description": ["", "Shooter", ""],
    }
    assert external_sequences(ds) == {"0": ["0", "1"], "1": ["2", "0", "1"]}


def test_lcrec_items_only_folder(tmp_path: Path) -> None:
    write(tmp_path / "items.json", json.dumps({"0": {"title": "a"}, "1": {"title": "b"}}))
    ds = read_lcrec(tmp_path)
    assert ds.interactions is None
    assert ds.catalog.text_fields == {"title": ["a", "b"]}


def test_lcrec_name_picks_dataset_and_ambiguity_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "A.inter.json", json.dumps({"u": [5, 3]}))
    write(tmp_path / "B.inter.json", json.dumps({"u": [1]}))
    with pytest.raises(DataError, match=r"several LC-Rec datasets found \['A', 'B'\]"):
        read_lcrec(tmp_path)
    ds = read_lcrec(tmp_path, name="A")
    # no item file: catalog is the sorted set of items named by the log
    assert ds.catalog.item_ids.tolist() == ["3", "5"]
    assert external_sequences(ds) == {"u": ["5", "3"]}
    with pytest.raises(DataError, match=r"required LC-Rec file is missing"):
        read_lcrec(tmp_path, name="C")


def test_lcrec_unknown_items_name_ids_and_item_file(tmp_path: Path) -> None:
    write(tmp_path / "x.item.json", json.dumps({"0": {"title": "a"}}))
    write(tmp_path / "x.inter.json", json.dumps({"0": [0, 7, 9]}))
    with pytest.raises(
        DataError, match=r"x\.inter\.json: 2 item id\(s\) are not in the item file .*x\.item\.json.*'7'"
    ):
        read_lcrec(tmp_path)


def test_lcrec_malformed_records(tmp_path: Path) -> None:
    write(tmp_path / "items.json", json.dumps({"0": {"title": "a"}, "1": "just a title"}))
    with pytest.raises(DataError, match=r"items\.json: item '1': expected an object of text fields"):
        read_lcrec(tmp_path)
    write(tmp_path / "items.json", json.dumps([{"title": "a"}]))
    with pytest.raises(DataError, match=r"items\.json: expected a JSON object"):
        read_lcrec(tmp_path)
    write(tmp_path / "items.json", '{"0": {"title": "a"}\n"1": {}}')
    with pytest.raises(DataError, match=r"items\.json:2:1: malformed JSON"):
        read_lcrec(tmp_path)
    write(tmp_path / "items.json", "{}")
    with pytest.raises(DataError, match=r"items\.json: holds no items"):
        read_lcrec(tmp_path)


def test_lcrec_bad_sequence(tmp_path: Path) -> None:
    write(tmp_path / "s.inter.json", json.dumps({"0": [1, 2], "1": {"a": 1}}))
    with pytest.raises(DataError, match=r"s\.inter\.json: user '1': expected a list of item ids"):
        read_lcrec(tmp_path)


def test_lcrec_missing_everything(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="required LC-Rec file is missing"):
        read_lcrec(tmp_path)


# ----------------------------------------------------------------------------- RecBole


def test_recbole_orders_by_timestamp_and_reads_item_text(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    write(
        folder / "ml.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "u1\ti2\t5\t300\n"
        "u1\ti1\t4\t100\n"
        "u2\ti3\t3\t50\n"
        "u1\ti3\t1\t300\n"
        "u2\ti1\t2\t10\n",
    )
    write(
        folder / "ml.item",
        "item_id:token\ttitle:token_seq\tgenre:token_seq\tprice:float\trelease_year:token\n"
        "i3\tThe Matrix\tAction Sci-Fi\t9.5\t1999\n"
        "i1\tHeat\tCrime\t7\t1995\n"
        "i2\tAlien\tHorror\t8\t1979\n",
    )
    ds = read_recbole(folder)
    assert ds.catalog.item_ids.tolist() == ["i3", "i1", "i2"]  # .item row order
    assert ds.catalog.text_fields == {
        "title": ["The Matrix", "Heat", "Alien"],
        "genre": ["Action Sci-Fi", "Crime", "Horror"],
        "release_year": ["1999", "1995", "1979"],
    }
    # by timestamp; the tie at 300 keeps file order (i2 before i3)
    assert external_sequences(ds) == {"u1": ["i1", "i2", "i3"], "u2": ["i1", "i3"]}


def test_recbole_without_timestamp_or_item_file(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\n1\t20\n1\t3\n2\t20\n")
    ds = read_recbole(tmp_path)
    assert ds.catalog.item_ids.tolist() == ["3", "20"]
    assert external_sequences(ds) == {"1": ["20", "3"], "2": ["20"]}
    assert ds.catalog.text_fields == {}


def test_recbole_missing_column_lists_columns(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", "user:token\titem_id:token\n1\t2\n")
    with pytest.raises(
        DataError,
        match=r"d\.inter: required column 'user_id' is missing; columns found: "
        r"\['user:token', 'item_id:token'\]",
    ):
        read_recbole(tmp_path)
    ds = read_recbole(tmp_path, user_col="user")
    assert external_sequences(ds) == {"1": ["2"]}


def test_recbole_row_errors_name_line(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t5\n1 3 6\n")
    with pytest.raises(DataError, match=r"d\.inter:3: row has 1 tab-separated fields but the header has 3"):
        read_recbole(tmp_path)
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t5\n1\t3\tlate\n")
    with pytest.raises(DataError, match=r"d\.inter:3: column 'timestamp' holds 'late', not a number"):
        read_recbole(tmp_path)


def test_recbole_item_file_errors(tmp_path: Path) -> None:
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\n1\t2\n1\t9\n")
    write(tmp_path / "d.item", "item_id:token\ttitle:token_seq\n2\ta\n2\tb\n")
    with pytest.raises(DataError, match=r"d\.item: duplicate item id\(s\) \['2'\]"):
        read_recbole(tmp_path)
    write(tmp_path / "d.item", "item_id:token\ttitle:token_seq\n2\ta\n")
    with pytest.raises(
        DataError, match=r"d\.inter: 1 item id\(s\) are not in the item file .*d\.item, e\.g\. \['9'\]"
    ):
        read_recbole(tmp_path)


def test_recbole_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"required RecBole file .*\.inter is missing"):
        read_recbole(tmp_path)
    write(tmp_path / "d.inter", "")
    with pytest.raises(DataError, match=r"d\.inter: file is empty"):
        read_recbole(tmp_path)
    write(tmp_path / "d.inter", "user_id:token\titem_id:token\n")
    with pytest.raises(DataError, match=r"d\.inter: has a header but no rows"):
        read_recbole(tmp_path)


# ----------------------------------------------------------------------------- tables


def test_table_parquet_items_csv_interactions(tmp_path: Path) -> None:
    items = pa.table(
        {
            "sku": [10, 11, 12],
            "title": ["red shirt", "blue shirt", None],
            "family": ["shirt", "shirt", None],
            "vec": [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]],
            "stock": [3, 0, 1],
        }
    )
    pq.write_table(items, tmp_path / "items.parquet")
    write(
        tmp_path / "events.csv",
        "uid,sku,ts\na,11,2024-01-02T00:00:00\na,10,2024-01-01T00:00:00\nb,12,2023-05-05T10:00:00\n",
    )
    ds = read_table(
        items=tmp_path / "items.parquet",
        interactions=tmp_path / "events.csv",
        item_col="sku",
        user_col="uid",
        time_col="ts",
        group_col="family",
        embedding_col="vec",
    )
    cat = ds.catalog
    assert cat.name == "items"
    assert cat.item_ids.tolist() == ["10", "11", "12"]
    assert cat.text_fields == {"title": ["red shirt", "blue shirt", ""]}  # string columns only, not id/group
    assert cat.group_keys is not None and cat.group_keys.tolist() == ["shirt", "shirt", ""]
    assert cat.embeddings is not None and cat.embeddings.dtype == np.float32
    np.testing.assert_array_equal(cat.embeddings, [[1, 0], [0, 1], [0.5, 0.5]])
    assert external_sequences(ds) == {"a": ["10", "11"], "b": ["12"]}


def test_table_interactions_only_and_explicit_text_cols(tmp_path: Path) -> None:
    pacsv.write_csv(pa.table({"user_id": [1, 1, 2], "item_id": [30, 4, 30]}), tmp_path / "log.csv")
    ds = read_table(interactions=tmp_path / "log.csv")
    assert ds.catalog.item_ids.tolist() == ["4", "30"]
    assert external_sequences(ds) == {"1": ["30", "4"], "2": ["30"]}
    pq.write_table(
        pa.table({"item_id": ["a", "b"], "t": ["x", "y"], "u": ["p", "q"]}), tmp_path / "i.parquet"
    )
    ds = read_table(items=tmp_path / "i.parquet", text_cols=["u"])
    assert ds.interactions is None
    assert ds.catalog.text_fields == {"u": ["p", "q"]}


def test_table_errors(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", "user,item\n1,2\n")
    with pytest.raises(
        DataError, match=r"log\.csv: required column 'user_id' is missing; columns found: \['user', 'item'\]"
    ):
        read_table(interactions=tmp_path / "log.csv")
    write(tmp_path / "empty.csv", "")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        read_table(interactions=tmp_path / "empty.csv")
    write(tmp_path / "header.csv", "user_id,item_id\n")
    with pytest.raises(DataError, match=r"header\.csv: .*no rows"):
        read_table(interactions=tmp_path / "header.csv")
    write(tmp_path / "latin.csv", b"user_id,item_id,title\n1,2,caf\xe9\n")
    with pytest.raises(DataError, match=r"latin\.csv: not valid UTF-8 at byte offset 29 \(line 2"):
        read_table(items=tmp_path / "latin.csv")
    write(tmp_path / "items.tsv", "item_id\n1\n")
    with pytest.raises(DataError, match=r"unsupported item table format '\.tsv'"):
        read_table(items=tmp_path / "items.tsv")
    with pytest.raises(DataError, match=r"nothere\.csv: required item table file is missing"):
        read_table(items=tmp_path / "nothere.csv")
    write(tmp_path / "dup.csv", "item_id,title\n1,a\n2,b\n1,c\n")
    with pytest.raises(DataError, match=r"dup\.csv: duplicate item id\(s\) \['1'\]"):
        read_table(items=tmp_path / "dup.csv")
    write(tmp_path / "items.csv", "item_id,title\n1,a\n2,b\n")
    write(tmp_path / "log2.csv", "user_id,item_id\nu,1\nu,3\n")
    with pytest.raises(
        DataError, match=r"log2\.csv: 1 item id\(s\) are not in the item file .*items\.csv, e\.g\. \['3'\]"
    ):
        read_table(items=tmp_path / "items.csv", interactions=tmp_path / "log2.csv")
    with pytest.raises(DataError, match=r"give an item table"):
        read_table()


def test_table_embedding_errors(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"item_id": ["a", "b", "c"], "vec": [[1.0, 2.0], [3.0], [4.0, 5.0]]}), tmp_path / "r.parquet"
    )
    with pytest.raises(DataError, match=r"embedding column 'vec' is ragged: item 'b' has 1 values"):
        read_table(items=tmp_path / "r.parquet", embedding_col="vec")
    pq.write_table(pa.table({"item_id": ["a", "b"], "vec": [[1.0, 2.0], None]}), tmp_path / "n.parquet")
    with pytest.raises(DataError, match=r"item 'b' has no embedding in column 'vec'"):
        read_table(items=tmp_path / "n.parquet", embedding_col="vec")
    pq.write_table(pa.table({"item_id": ["a"], "vec": ["1,2"]}), tmp_path / "s.parquet")
    with pytest.raises(DataError, match=r"must hold one list of floats per item"):
        read_table(items=tmp_path / "s.parquet", embedding_col="vec")
    pq.write_table(pa.table({"item_id": ["a"], "vec": [[float("nan"), 1.0]]}), tmp_path / "f.parquet")
    with pytest.raises(DataError, match=r"NaN or inf"):
        read_table(items=tmp_path / "f.parquet", embedding_col="vec")


# ----------------------------------------------------------------------------- load_dataset


def test_load_dataset_detects_formats_and_attaches_texts(s3rec_dir: Path, tmp_path: Path) -> None:
    ds = load_dataset(s3rec_dir)
    assert detect_format(s3rec_dir) == "s3rec"
    assert ds.catalog.texts is not None
    assert ds.catalog.texts[1] == "attributes: Brand A, Makeup"
    assert ds.catalog.texts[0] == ""

    lc = tmp_path / "lc"
    write(lc / "items.json", json.dumps({"0": {"title": "Drill", "brand": "Bosch"}}))
    ds = load_dataset(lc)
    assert ds.catalog.texts == ["title: Drill; brand: Bosch"]

    rb = tmp_path / "rb"
    write(rb / "x.inter", "user_id:token\titem_id:token\n1\t2\n")
    write(rb / "x.item", "item_id:token\ttitle:token_seq\n2\tLamp\n")
    assert detect_format(rb) == "recbole"
    assert load_dataset(rb).catalog.texts == ["title: Lamp"]
    assert load_dataset(rb / "x.inter").catalog.name == "x"

    write(tmp_path / "events.csv", "user_id,item_id\n1,2\n")
    ds = load_dataset(tmp_path / "events.csv")
    assert ds.catalog.texts is None and ds.interactions is not None

    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "nothing-here")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="cannot tell the dataset format"):
        load_dataset(tmp_path / "emptydir")
    with pytest.raises(ConfigError, match="unknown dataset format 'csv'"):
        load_dataset(s3rec_dir, format="csv")


def test_load_dataset_resolves_bare_names(s3rec_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUASID_DATA", str(s3rec_dir.parent))
    monkeypatch.chdir(s3rec_dir.parent.parent)
    assert load_dataset("toyset").catalog.n_items == 5
    with pytest.raises(DataError, match=r"not a dataset name \(datasets under .*\['toyset'\]\)"):
        load_dataset("no-such-set")


# ----------------------------------------------------------------------------- real data

REAL = {
    # name: (items, users, events) as published in the data README
    "amazon-beauty": (12_101, 22_363, 198_502),
    "amazon-sports": (18_357, 35_598, 296_337),
    "amazon-toys": (11_924, 19_412, 167_597),
    "yelp": (20_033, 30_431, 316_354),
    "lastfm": (3_646, 1_090, 52_551),
}


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_sequence_sets_load(shared_data: Path, name: str) -> None:
    ds = load_dataset(shared_data / name)
    assert ds.interactions is not None
    assert (ds.catalog.n_items, ds.interactions.n_users, ds.interactions.n_events) == REAL[name]
    assert ds.catalog.attributes is not None and len(ds.catalog.attributes) == ds.catalog.n_items
    assert ds.catalog.item_ids[0] == "1" and ds.catalog.item_ids[-1] == str(REAL[name][0])


@pytest.mark.integration
def test_real_beauty_protocol(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "amazon-beauty")
    assert ds.catalog.texts is not None and all(ds.catalog.texts)  # every item has named attributes
    assert ds.interactions is not None
    split = leave_one_out(ds.interactions)
    assert split.n_dropped == 0  # 5-core: every user has at least 5 events
    assert split.train.n_events == 198_502 - 2 * 22_363
    # first line of sequences.txt is "1 1 2 3 4 5": item ids 1..5 are rows 0..4
    assert split.test_target[0] == 4 and split.test_history[0].tolist() == [0, 1, 2, 3]


@pytest.mark.integration
def test_real_industrial_catalog(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "amazon-industrial")
    assert ds.interactions is None
    assert ds.catalog.n_items == 3_686
    assert set(ds.catalog.text_fields) == {"title", "description", "brand", "categories"}
    assert ds.catalog.texts is not None and all(t.startswith("title: ") for t in ds.catalog.texts)


def test_table_time_column_checks(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", "user_id,item_id,when\nu,1,yesterday\nu,2,today\n")
    with pytest.raises(DataError, match=r"time column 'when' has type string: it must be numeric"):
        read_table(interactions=tmp_path / "log.csv", time_col="when")
    with pytest.raises(
        DataError, match=r"required column 'ts' is missing; columns found: \['user_id', 'item_id', 'when'\]"
    ):
        read_table(interactions=tmp_path / "log.csv", time_col="ts")
    write(tmp_path / "log.csv", "user_id,item_id,ts\nu,1,30\nu,2,10.5\nv,1,\n")
    with pytest.raises(DataError, match=r"column 'ts' is empty at row 3"):
        read_table(interactions=tmp_path / "log.csv", time_col="ts")
    write(tmp_path / "log.csv", "user_id,item_id,ts\nu,1,30\nu,2,10.5\n")
    ds = read_table(interactions=tmp_path / "log.csv", time_col="ts")
    assert external_sequences(ds) == {"u": ["2", "1"]}
