"""Splits: the leave-one-out protocol exactly, and a cold-start split that leaks nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quasid.data import ColdStart, Interactions, cold_start_split, leave_one_out, read_s3rec
from quasid.errors import ConfigError, DataError

SEQS = st.lists(
    st.lists(st.integers(min_value=0, max_value=14), min_size=0, max_size=12), min_size=1, max_size=20
)


def log(sequences: list[list[int]], n_items: int = 20) -> Interactions:
    return Interactions.from_sequences(
        sequences, n_items=n_items, user_ids=[f"u{i}" for i in range(len(sequences))]
    )


def as_lists(arrays: list[np.ndarray]) -> list[list[int]]:
    return [a.tolist() for a in arrays]


# ----------------------------------------------------------------------------- leave-one-out


def test_leave_one_out_hand_case() -> None:
    split = leave_one_out(log([[0, 1, 2, 3], [4, 5], [1, 2, 3], []]))
    assert split.users.tolist() == [0, 2]
    assert split.n_dropped == 2  # the 2-event user and the user with none
    assert split.test_target.tolist() == [3, 3]
    assert as_lists(split.test_history) == [[0, 1, 2], [1, 2]]
    assert split.valid_target.tolist() == [2, 2]
    assert as_lists(split.valid_history) == [[0, 1], [1]]
    assert as_lists(split.train_sequences()) == [[0, 1], [1]]
    assert as_lists(split.train.sequences()) == [[0, 1], [], [1], []]  # user rows unchanged
    assert split.train.user_ids.tolist() == ["u0", "u1", "u2", "u3"]


def test_leave_one_out_follows_event_order_not_file_order() -> None:
    # one user, events given out of time order
    inter = Interactions(
        users=np.zeros(4, dtype=np.int64),
        items=np.array([7, 5, 6, 4]),
        order=np.array([40.0, 10.0, 30.0, 20.0]),
        user_ids=np.array(["x"], dtype=object),
        n_items=10,
    )
    split = leave_one_out(inter)
    assert split.test_target.tolist() == [7]
    assert split.valid_target.tolist() == [6]
    assert as_lists(split.train_sequences()) == [[5, 4]]


def test_leave_one_out_does_not_alias_input() -> None:
    inter = log([[0, 1, 2, 3]])
    split = leave_one_out(inter)
    split.test_history[0][0] = 19
    assert inter.items.tolist() == [0, 1, 2, 3]


def test_leave_one_out_short_users_error_names_count_and_example() -> None:
    with pytest.raises(DataError, match=r"2 user\(s\) have fewer than 4 events, e\.g\. user 'u1' with 2"):
        leave_one_out(log([[0, 1, 2, 3], [4, 5], [1, 2, 3]]), min_events=4, on_short="error")


def test_leave_one_out_rejects_bad_arguments_and_empty_result() -> None:
    with pytest.raises(ConfigError, match="min_events=2"):
        leave_one_out(log([[0, 1, 2]]), min_events=2)
    with pytest.raises(ConfigError, match="on_short='skip'"):
        leave_one_out(log([[0, 1, 2]]), on_short="skip")
    with pytest.raises(DataError, match="no user has at least 3 events"):
        leave_one_out(log([[0, 1], [2]]))


@settings(max_examples=60, deadline=None)
@given(SEQS, st.integers(min_value=3, max_value=6))
def test_leave_one_out_reassembles_each_sequence(sequences: list[list[int]], min_events: int) -> None:
    if not any(len(s) >= min_events for s in sequences):
        return
    split = leave_one_out(log(sequences), min_events=min_events)
    kept = [u for u, s in enumerate(sequences) if len(s) >= min_events]
    assert split.users.tolist() == kept
    assert split.n_dropped == len(sequences) - len(kept)
    for k, (u, train) in enumerate(zip(kept, split.train_sequences(), strict=True)):
        seq = sequences[u]
        assert [*train.tolist(), int(split.valid_target[k]), int(split.test_target[k])] == seq
        assert split.valid_history[k].tolist() == seq[:-2]
        assert split.test_history[k].tolist() == seq[:-1]
    assert split.train.n_events == sum(len(sequences[u]) - 2 for u in kept)


# ----------------------------------------------------------------------------- cold start


def assert_no_leak(split: ColdStart, inter: Interactions) -> None:
    cold = set(split.cold_items.tolist())
    assert cold, "a cold-start split must withhold something"
    assert not cold & set(split.train.items.tolist()), "a cold item has a training event"
    assert all(not cold & set(h.tolist()) for h in split.test_history), "a cold item is in a test history"
    assert set(split.test_target.tolist()) <= cold
    # train is exactly the input minus cold-item events
    assert split.train.n_events == int(np.isin(inter.items, split.cold_items, invert=True).sum())


def test_cold_start_hand_case() -> None:
    # last items: u0 -> 3, u1 -> 5, u2 -> 3, u3 -> 9 (too short to count)
    inter = log([[0, 1, 2, 3], [3, 4, 1, 5], [5, 1, 3], [8, 9]])
    split = cold_start_split(inter, frac=0.3, seed=0)
    assert len(split.cold_items) == 1  # round(0.3 * 2 candidates {3, 5})
    assert split.cold_items[0] in (3, 5)  # which one depends on the seed only
    assert_no_leak(split, inter)
    if split.cold_items[0] == 3:
        assert split.test_users.tolist() == [0, 2]
        assert as_lists(split.test_history) == [[0, 1, 2], [5, 1]]
    else:
        assert split.test_users.tolist() == [1]
        assert as_lists(split.test_history) == [[3, 4, 1]]


def test_cold_start_removes_cold_items_from_histories_and_skips_empty_ones() -> None:
    inter = log([[4, 4, 4], [1, 4, 2, 4]])  # only candidate is 4
    split = cold_start_split(inter, frac=0.5)
    assert split.cold_items.tolist() == [4]
    assert split.test_users.tolist() == [1]  # user 0's history is all item 4
    assert as_lists(split.test_history) == [[1, 2]]
    assert split.test_target.tolist() == [4]
    assert as_lists(split.train.sequences()) == [[], [1, 2]]
    assert_no_leak(split, inter)


def test_cold_start_is_deterministic_by_seed() -> None:
    rng = np.random.default_rng(3)
    sequences = [rng.integers(0, 200, size=rng.integers(3, 15)).tolist() for _ in range(300)]
    inter = log(sequences, n_items=200)
    a = cold_start_split(inter, frac=0.2, seed=7)
    b = cold_start_split(inter, frac=0.2, seed=7)
    c = cold_start_split(inter, frac=0.2, seed=8)
    np.testing.assert_array_equal(a.cold_items, b.cold_items)
    np.testing.assert_array_equal(a.test_target, b.test_target)
    assert not np.array_equal(a.cold_items, c.cold_items)
    last_items = {s[-1] for s in sequences}
    assert set(a.cold_items.tolist()) <= last_items
    assert len(a.cold_items) == round(0.2 * len(last_items))
    assert_no_leak(a, inter)


def test_cold_start_rejects_bad_arguments() -> None:
    inter = log([[0, 1, 2]])
    for frac in (0.0, 1.0, -0.1):
        with pytest.raises(ConfigError, match="frac"):
            cold_start_split(inter, frac=frac)
    with pytest.raises(DataError, match="no user has at least 5 events"):
        cold_start_split(inter, min_events=5)


@settings(max_examples=60, deadline=None)
@given(SEQS, st.floats(min_value=0.05, max_value=0.95), st.integers(min_value=0, max_value=2**16))
def test_cold_start_never_leaks(sequences: list[list[int]], frac: float, seed: int) -> None:
    if not any(len(s) >= 3 for s in sequences):
        return
    inter = log(sequences)
    split = cold_start_split(inter, frac=frac, seed=seed)
    assert_no_leak(split, inter)
    for u, hist, target in zip(split.test_users, split.test_history, split.test_target, strict=True):
        seq = sequences[u]
        assert seq[-1] == target
        assert hist.tolist() == [i for i in seq[:-1] if i not in set(split.cold_items.tolist())]


@pytest.mark.integration
def test_real_beauty_cold_start_leaks_nothing(shared_data: Path) -> None:
    inter = read_s3rec(shared_data / "amazon-beauty").interactions
    assert inter is not None
    split = cold_start_split(inter, frac=0.1, seed=0)
    assert len(split.test_target) > 1000
    assert_no_leak(split, inter)
