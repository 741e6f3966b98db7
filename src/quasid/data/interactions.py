"""User-item interaction logs, ordered per user."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quasid.errors import DataError


@dataclass
class Interactions:
    """A log of (user, item) events in time order.

    Attributes:
        users: user row index per event, ``int64 [n_events]``.
        items: item row index (into the Catalog) per event, ``int64 [n_events]``.
        order: sort key per event (timestamp or position); events of a user are
            ordered by it, ties kept in file order.
        user_ids: external user id per user row.
        n_items: catalog size, so item indices can be range-checked.
    """

    users: np.ndarray
    items: np.ndarray
    order: np.ndarray
    user_ids: np.ndarray
    n_items: int

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        self.order = np.asarray(self.order)
        self.user_ids = np.asarray([str(u) for u in self.user_ids], dtype=object)
        n = len(self.users)
        if len(self.items) != n or len(self.order) != n:
            raise DataError("interactions: users, items and order must have the same length")
        if n and (self.items.min() < 0 or self.items.max() >= self.n_items):
            bad = self.items[(self.items < 0) | (self.items >= self.n_items)][:5].tolist()
            raise DataError(
                f"interactions name item indices {bad} outside the catalog of {self.n_items} items"
            )
        if n and (self.users.min() < 0 or self.users.max() >= len(self.user_ids)):
            raise DataError("interactions: user index outside user_ids")
        # stable sort by (user, order) so sequences() is a cheap split
        perm = np.lexsort((np.arange(n), self.order, self.users))
        self.users, self.items, self.order = self.users[perm], self.items[perm], self.order[perm]

    @classmethod
    def from_sequences(
        cls, sequences: list[list[int]], n_items: int, user_ids: list[str] | None = None
    ) -> Interactions:
        """Build from per-user item-index lists already in time order."""
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        users = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
        items = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
            if len(sequences)
            else np.zeros(0, np.int64)
        )
        order = np.concatenate([np.arange(n) for n in lengths]) if len(sequences) else np.zeros(0, np.int64)
        ids = user_ids if user_ids is not None else [str(u) for u in range(len(sequences))]
        return cls(
            users=users, items=items, order=order, user_ids=np.asarray(ids, dtype=object), n_items=n_items
        )

    @property
    def n_events(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def __len__(self) -> int:
        return self.n_events

    def sequences(self) -> list[np.ndarray]:
        """Per-user item-index arrays in time order (users with no events give empty arrays)."""
        bounds = np.searchsorted(self.users, np.arange(self.n_users + 1))
        return [self.items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)
