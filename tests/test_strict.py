"""No silent fallbacks: where a reader goes on with a default, it warns once with the count and an
example id; ``strict_data()`` (``quasid --strict``) makes that an error. The default stays as it was.

Cases are keyed by the fallback catalogue's codes (``quasid.errors.FALLBACKS``): every entry has
a case, every case's message matches its entry, so docs/errors.md cannot drift from the readers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from quasid.data import Dataset, read_lcrec, read_recbole, read_s3rec, read_table
from quasid.errors import FALLBACKS, DataError, DataWarning, lookup, strict_data
from test_console import one_error_line, quasid
from test_readers import write

SEQUENCES = "1 1 2 3 4\n2 2 3 5 6\n3 6 7 8 1\n"  # items 1..8
ATTRIBUTES = {"1": [1, 2], "2": [2, 3], "3": [1, 3], "4": [4], "5": [5], "6": [2, 4], "7": [1], "8": [3]}


def s3rec(folder: Path, attributes: dict[str, list[int]]) -> Path:
    write(folder / "sequences.txt", SEQUENCES)
    write(folder / "item_attributes.json", json.dumps(attributes))
    return folder


@dataclass(frozen=True)
class Case:
    """One fallback: how to make a reader take it, and what its one warning must name."""

    code: str
    read: Callable[[Path], Dataset]
    names: tuple[str, ...]


def _unlisted(tmp: Path) -> Dataset:
    return read_s3rec(s3rec(tmp / "set", {k: v for k, v in ATTRIBUTES.items() if k not in ("7", "8")}))


def _empty_attributes(tmp: Path) -> Dataset:
    return read_s3rec(s3rec(tmp / "set", {**ATTRIBUTES, "5": []}))


def _lcrec_without_text(tmp: Path) -> Dataset:
    items = {"i1": {"title": "mug"}, "i2": {"title": "", "brand": ""}, "i3": {"price": 3}}
    write(tmp / "shop" / "shop.item.json", json.dumps(items))
    return read_lcrec(tmp / "shop")


def _recbole_without_text(tmp: Path) -> Dataset:
    write(tmp / "shop" / "shop.inter", "user_id:token\titem_id:token\nu\ta\nu\tb\n")
    write(tmp / "shop" / "shop.item", "item_id:token\ttitle:token_seq\na\tred mug\nb\t \n")
    return read_recbole(tmp / "shop")


def _table_without_text(tmp: Path) -> Dataset:
    return read_table(items=write(tmp / "items.csv", "item_id,title\n1,mug\n2,\n3,\n"))


def _recbole_repeats(tmp: Path) -> Dataset:
    rows = "u\ta\t1\nu\tb\t2\nu\ta\t1\nv\ta\t1\nv\ta\t5\n"  # (u, a, 1) twice
    write(tmp / "shop" / "shop.inter", "user_id:token\titem_id:token\ttimestamp:float\n" + rows)
    return read_recbole(tmp / "shop")


def _table_repeats(tmp: Path) -> Dataset:
    log = write(tmp / "log.csv", "user_id,item_id,ts\n7,1,10\n7,2,11\n7,2,11\n7,2,11\n8,2,11\n")
    return read_table(interactions=log, time_col="ts")


CASES = {
    "unlisted-items": Case("unlisted-items", _unlisted, ("sequences.txt", "2 item id(s)", "e.g. 7")),
    "empty-attributes": Case(
        "items-without-content", _empty_attributes, ("item_attributes.json", "1 item(s)", "item 5")
    ),
    "lcrec-no-text": Case(
        "items-without-content", _lcrec_without_text, ("shop.item.json", "2 item(s)", "'i2'")
    ),
    "recbole-no-text": Case(
        "items-without-content", _recbole_without_text, ("shop.item", "1 item(s)", "'b'")
    ),
    "table-no-text": Case("items-without-content", _table_without_text, ("items.csv", "2 item(s)", "'2'")),
    "recbole-repeats": Case("repeated-events", _recbole_repeats, ("shop.inter", "1 event(s)", "'u'", "'a'")),
    "table-repeats": Case("repeated-events", _table_repeats, ("log.csv", "2 event(s)", "'7'", "'2'", "'ts'")),
}


def _data_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DataWarning)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fallback_warns_once_naming_count_and_example(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        dataset = case.read(tmp_path)
    messages = _data_warnings(record)
    assert len(messages) == 1, messages
    message = messages[0]
    assert "\n" not in message and all(n in message for n in case.names), message
    assert lookup(message) is not None and lookup(message).code == case.code, message
    assert dataset.catalog.n_items > 0  # the reader went on


@pytest.mark.parametrize("name", sorted(CASES))
def test_strict_makes_the_fallback_a_data_error(name: str, tmp_path: Path) -> None:
    with strict_data(), pytest.raises(DataError) as info:
        CASES[name].read(tmp_path)
    assert isinstance(info.value, DataWarning) and lookup(str(info.value)).code == CASES[name].code


def test_every_fallback_entry_has_a_case() -> None:
    assert {e.code for e in FALLBACKS} == {c.code for c in CASES.values()}


def test_the_default_is_unchanged_items_without_attributes_stay_in_the_catalog(tmp_path: Path) -> None:
    with pytest.warns(DataWarning):
        ds = _unlisted(tmp_path)
    ids = ds.catalog.item_ids.tolist()
    assert ids == [str(i) for i in range(1, 9)] and ds.catalog.attributes[ids.index("8")] == []
    assert len(ds.interactions.items) == SEQUENCES.count(" ")  # every event kept, item 8's too
    with pytest.warns(DataWarning):
        log = _table_repeats(tmp_path).interactions
    assert len(log.items) == 5  # repeated events are kept


def test_clean_data_reads_without_a_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        read_s3rec(s3rec(tmp_path / "set", ATTRIBUTES))
        read_table(
            interactions=write(tmp_path / "log.csv", "user_id,item_id,ts\n7,1,10\n7,1,11\n"), time_col="ts"
        )
    assert _data_warnings(record) == []


def test_the_cli_prints_one_warning_line_and_strict_stops(tmp_path: Path) -> None:
    folder = s3rec(tmp_path / "set", {k: v for k, v in ATTRIBUTES.items() if k != "8"})
    args = ["embed", str(folder), "-o", str(tmp_path / "e.npy"), "--attribute-dim", "2", "--no-progress"]
    done = quasid(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "e.g. 8" in lines[0], done.stderr
    assert (tmp_path / "e.npy").exists()
    (tmp_path / "e.npy").unlink()
    for strict_args, env in ((["--strict", *args], None), (args, {"QUASID_STRICT": "1"})):
        message = one_error_line(quasid(*strict_args, cwd=tmp_path, env=env))
        assert lookup(message).code == "unlisted-items" and "e.g. 8" in message, message
        assert not (tmp_path / "e.npy").exists()


def test_strict_is_scoped_to_one_cli_run(tmp_path: Path, monkeypatch, capsys) -> None:
    """In process (notebooks, tests): --strict must not leak into the warnings filters afterwards."""
    from quasid.cli import main

    folder = s3rec(tmp_path / "set", {k: v for k, v in ATTRIBUTES.items() if k != "8"})
    monkeypatch.setattr(
        sys, "argv", ["quasid", "--strict", "embed", str(folder), "-o", str(tmp_path / "e.npy")]
    )
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    with pytest.warns(DataWarning):
        read_s3rec(folder)
    assert os.environ.get("QUASID_STRICT") is None
    capsys.readouterr()


def test_a_warning_does_not_reach_the_error_path_of_a_real_run(tmp_path: Path) -> None:
    """One warning line, then the run's own error line: nothing else on stderr."""
    folder = s3rec(tmp_path / "set", {k: v for k, v in ATTRIBUTES.items() if k != "8"})
    done = subprocess.run(
        [sys.executable, "-m", "quasid", "fit", str(folder), "-m", "rqkmeans", "-K", "1000", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"},
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert lines[0].startswith("warning: ") and lines[1].startswith("error: "), done.stderr
