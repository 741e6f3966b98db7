"""Evaluation splits: the leave-one-out protocol and a cold-start item split.

Leave-one-out is the protocol every published figure on the S3-Rec sets uses
(TIGER, P5, LC-Rec), so it must match it exactly: per user, the last item is
the test target, the second last the validation target, the rest is training.
The cold-start split withholds items entirely, to measure whether Semantic IDs
let a recommender reach items it has never seen interactions for; its one
hard requirement is that no event of a withheld item leaks into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quasid.data.interactions import Interactions
from quasid.errors import ConfigError, DataError

_ON_SHORT = ("drop", "error")


@dataclass(eq=False)
class LeaveOneOut:
    """A leave-one-out split; all per-user arrays are aligned with ``users``.

    Attributes:
        train: every kept user's events except the last two (same user rows as
            the input, so ``users`` indexes its ``user_ids``; dropped users have none).
        valid_history / valid_target: events before the second last / the second last item.
        test_history / test_target: events before the last / the last item.
        users: user rows (into the input's ``user_ids``) that were kept.
        n_dropped: users left out for having fewer than ``min_events`` events.
    """

    train: Interactions
    valid_history: list[np.ndarray]
    valid_target: np.ndarray
    test_history: list[np.ndarray]
    test_target: np.ndarray
    users: np.ndarray
    n_dropped: int

    def train_sequences(self) -> list[np.ndarray]:
        """Train item arrays of the kept users, in ``users`` order (what a sequence model trains on)."""
        bounds = np.searchsorted(self.train.users, np.arange(self.train.n_users + 1))
        return [self.train.items[bounds[u] : bounds[u + 1]] for u in self.users]


@dataclass(eq=False)
class ColdStart:
    """A cold-start split: some items are withheld from training and are the only test targets.

    Attributes:
        cold_items: withheld item rows, sorted.
        train: the input log minus every event of a cold item.
        test_history: per test case, the user's events before their last one, cold items removed.
        test_target: per test case, the user's last item (always a cold item).
        test_users: the user row of each test case.
    """

    cold_items: np.ndarray
    train: Interactions
    test_history: list[np.ndarray]
    test_target: np.ndarray
    test_users: np.ndarray


def _user_bounds(interactions: Interactions) -> np.ndarray:
    """Start offsets of each user's events (``Interactions`` keeps events sorted by user, then order)."""
    return np.searchsorted(interactions.users, np.arange(interactions.n_users + 1))


def _subset(interactions: Interactions, mask: np.ndarray) -> Interactions:
    """The events where ``mask`` holds, keeping every user row so user indices stay valid."""
    return Interactions(
        users=interactions.users[mask],
        items=interactions.items[mask],
        order=interactions.order[mask],
        user_ids=interactions.user_ids,
        n_items=interactions.n_items,
    )


def leave_one_out(interactions: Interactions, min_events: int = 3, on_short: str = "drop") -> LeaveOneOut:
    """Split each user's sequence into train / validation / test by the leave-one-out protocol.

    Users with fewer than ``min_events`` (at least 3: one train event plus the
    two targets) are dropped and counted (``on_short="drop"``) or rejected with
    a ``DataError`` (``on_short="error"``).
    """
    if min_events < 3:
        raise ConfigError(
            f"min_events={min_events}: leave-one-out needs at least 3 events per user "
            "(one to train on, a validation target and a test target)"
        )
    if on_short not in _ON_SHORT:
        raise ConfigError(f"on_short={on_short!r}: on_short must be one of {list(_ON_SHORT)}")
    bounds = _user_bounds(interactions)
    counts = np.diff(bounds)
    kept = counts >= min_events
    n_dropped = int((~kept).sum())
    if n_dropped and on_short == "error":
        short = int(np.flatnonzero(~kept)[0])
        raise DataError(
            f"{n_dropped} user(s) have fewer than {min_events} events, e.g. user "
            f"{interactions.user_ids[short]!r} with {int(counts[short])}: filter them out first, "
            "lower min_events, or pass on_short='drop'"
        )
    if not kept.any():
        raise DataError(
            f"no user has at least {min_events} events ({interactions.n_users} users): "
            "leave-one-out has nothing to evaluate on; give the log longer histories "
            "(at least 3 events per user)"
        )
    users = np.flatnonzero(kept)
    items = interactions.items.copy()  # histories are views into this copy, never into the input
    pos = np.arange(interactions.n_events) - bounds[interactions.users]
    train_mask = kept[interactions.users] & (pos < counts[interactions.users] - 2)
    ends = bounds[users + 1]
    starts = bounds[users]
    return LeaveOneOut(
        train=_subset(interactions, train_mask),
        valid_history=[items[s : e - 2] for s, e in zip(starts, ends, strict=True)],
        valid_target=items[ends - 2],
        test_history=[items[s : e - 1] for s, e in zip(starts, ends, strict=True)],
        test_target=items[ends - 1],
        users=users,
        n_dropped=n_dropped,
    )


def cold_start_split(
    interactions: Interactions, frac: float = 0.1, seed: int = 0, min_events: int = 3
) -> ColdStart:
    """Withhold a ``frac`` of the candidate items, where candidates are the last items of users
    with at least ``min_events`` events; test on the users whose last item was withheld.

    The choice depends only on ``seed`` and the data. Every event of a cold
    item is removed from ``train``; test histories drop cold items too, so the
    model sees nothing about them but their content. Test cases whose history
    is empty once cold items are removed are skipped.
    """
    if not 0.0 < frac < 1.0:
        raise ConfigError(f"frac={frac}: the fraction of items to withhold must be in (0, 1)")
    if min_events < 2:
        raise ConfigError(f"min_events={min_events}: a cold-start test case needs a history, so at least 2")
    bounds = _user_bounds(interactions)
    counts = np.diff(bounds)
    eligible = np.flatnonzero(counts >= min_events)
    if len(eligible) == 0:
        raise DataError(
            f"no user has at least {min_events} events: the cold-start split has no test users; "
            "lower min_events or give the log longer histories"
        )
    last_items = interactions.items[bounds[eligible + 1] - 1]
    candidates = np.unique(last_items)
    n_cold = max(1, round(frac * len(candidates)))
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(candidates, size=n_cold, replace=False))
    is_cold = np.zeros(interactions.n_items, dtype=bool)
    is_cold[cold] = True

    histories: list[np.ndarray] = []
    targets: list[int] = []
    test_users: list[int] = []
    for u, target in zip(eligible, last_items, strict=True):
        if not is_cold[target]:
            continue
        history = interactions.items[bounds[u] : bounds[u + 1] - 1]
        history = history[~is_cold[history]]
        if len(history) == 0:
            continue
        histories.append(history.copy())
        targets.append(int(target))
        test_users.append(int(u))
    return ColdStart(
        cold_items=cold,
        train=_subset(interactions, ~is_cold[interactions.items]),
        test_history=histories,
        test_target=np.asarray(targets, dtype=np.int64),
        test_users=np.asarray(test_users, dtype=np.int64),
    )
