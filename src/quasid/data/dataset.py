"""A dataset is a catalog plus (optionally) its interaction log."""

from __future__ import annotations

from dataclasses import dataclass

from quasid.data.catalog import Catalog
from quasid.data.interactions import Interactions


@dataclass
class Dataset:
    """What the pipeline stages pass along: items, and the events that touch them."""

    catalog: Catalog
    interactions: Interactions | None = None

    @property
    def name(self) -> str:
        return self.catalog.name

    def __post_init__(self) -> None:
        if self.interactions is not None and self.interactions.n_items != self.catalog.n_items:
            from quasid.errors import DataError

            raise DataError(
                f"dataset '{self.name}': interactions were built for {self.interactions.n_items} items "
                f"but the catalog has {self.catalog.n_items}"
            )
