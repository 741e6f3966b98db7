import json

import numpy as np
import pytest

from quasid.errors import DataError
from quasid.sid import SIDTable, disambiguation_tokens


def test_disambiguation_tokens_rank_items_within_each_sid_in_row_order():
    codes = np.array([[1, 2], [1, 2], [0, 1], [1, 2], [0, 1], [5, 5]])
    np.testing.assert_array_equal(disambiguation_tokens(codes), [0, 1, 0, 2, 1, 0])


def test_disambiguated_sids_are_unique():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, size=(500, 2))
    table = SIDTable.from_codes(np.arange(500), codes, 3)
    assert len(set(map(tuple, table.full_codes()))) == 500


def test_parquet_round_trip(tmp_path):
    table = SIDTable.from_codes(["a", "b", "c"], np.array([[1, 2], [1, 2], [3, 0]]), 4)
    path = table.to_parquet(tmp_path / "sids.parquet")
    back = SIDTable.from_parquet(path)
    assert back.item_ids.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(back.codes, table.codes)
    np.testing.assert_array_equal(back.dedup, [0, 1, 0])
    assert back.codebook_size == 4
    assert back.sid_strings() == ["1-2-0", "1-2-1", "3-0-0"]
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left


def test_lcrec_index_round_trip_and_format(tmp_path):
    table = SIDTable.from_codes(["10", "11"], np.array([[7, 8, 9], [7, 8, 9]]), 256)
    path = table.to_lcrec_index(tmp_path / "x.index.json")
    raw = json.loads(path.read_text())
    assert raw == {"0": ["<a_7>", "<b_8>", "<c_9>", "<d_0>"], "1": ["<a_7>", "<b_8>", "<c_9>", "<d_1>"]}
    back = SIDTable.from_lcrec_index(path, item_ids=np.array(["10", "11"]), semantic_levels=3)
    np.testing.assert_array_equal(back.codes, table.codes)
    np.testing.assert_array_equal(back.dedup, [0, 1])


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no SID table"):
        SIDTable.from_parquet(tmp_path / "missing.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet"):
        SIDTable.from_parquet(tmp_path / "junk.parquet")
    (tmp_path / "bad.json").write_text('{"0": ["a_1"]}')
    with pytest.raises(DataError, match="not of the form"):
        SIDTable.from_lcrec_index(tmp_path / "bad.json")
    with pytest.raises(DataError, match="does not match"):
        SIDTable(np.array(["a"]), np.zeros((2, 3)), 4)
