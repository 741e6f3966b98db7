"""Where a bench method's SID table comes from: a tokenizer fitted per seed, or a peer's SID file.

Tokenizers are fitted through ``quasid.pipeline.fit`` into ``<report>/runs/<method>-s<seed>``,
so every SID table, tokenizer and intrinsic-metrics file of a bench is kept and can be
re-used by ``quasid assign`` / ``quasid evaluate``. A finished run folder made with the same
resolved config is re-used; an unfinished one resumes from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quasid import pipeline
from quasid.bench.config import FIRST_DEFAULTS, BenchConfig, MethodSpec, first_tokenizer_defaults
from quasid.config import EmbeddingConfig, RunConfig, read_toml
from quasid.data.dataset import Dataset
from quasid.data.readers.auto import data_root
from quasid.errors import ConfigError, DataError
from quasid.sid.table import SIDTable
from quasid.tokenizers import get_tokenizer_class


@dataclass
class MethodSIDs:
    """One method's SIDs for one seed, with their intrinsic metrics."""

    table: SIDTable
    metrics: dict[str, Any]
    seconds: float  # fitting (tokenizers) or reading (peer files) time
    run_dir: str | None  # the run folder of a fitted tokenizer
    reused: bool  # an earlier finished run folder supplied the table

    def record(self, spec: MethodSpec, seed: int, fingerprint: str) -> dict[str, Any]:
        """The JSON entry of results.json ``sids``."""
        return {
            "method": spec.label,
            "seed": seed,
            "source": spec.source,
            "fingerprint": fingerprint,
            "run_dir": self.run_dir,
            "seconds": self.seconds,
            "reused": self.reused,
            "n_items": self.table.n_items,
            "n_levels": self.table.n_levels,
            "codebook_size": self.table.codebook_size,
            "dedup": self.table.dedup is not None,
            "metrics": self.metrics,
        }


def peer_path(spec: MethodSpec) -> Path:
    """The peer SID file: the path as given, else under the data root; ConfigError when absent."""
    assert spec.path is not None
    given = Path(spec.path).expanduser()
    for candidate in (given, data_root() / given):
        if candidate.is_file():
            return candidate
    kind = "LC-Rec index.json" if spec.source == "lcrec" else "SID Parquet"
    raise ConfigError(
        f"method {spec.label!r}: no {kind} file at {given} (nor under the data root {data_root()}): "
        f"check method.{spec.label}.path or the {spec.source}:PATH given to --methods"
    )


def method_sids(
    spec: MethodSpec,
    seed: int,
    dataset: Dataset,
    config: BenchConfig,
    runs_dir: Path,
    progress: bool = True,
) -> MethodSIDs:
    """The SID table of ``spec`` for ``seed`` on ``dataset`` (catalog order), fitting it if needed."""
    if spec.is_tokenizer:
        return _fit_tokenizer(spec, seed, dataset, config, runs_dir / f"{spec.label}-s{seed}", progress)
    t0 = time.perf_counter()
    table = read_peer_table(spec, dataset)
    metrics = pipeline.evaluate(table, dataset)
    return MethodSIDs(table, metrics, time.perf_counter() - t0, None, False)


def read_peer_table(spec: MethodSpec, dataset: Dataset) -> SIDTable:
    """A peer's SIDs, checked to cover exactly the catalog's items."""
    path = peer_path(spec)
    catalog = dataset.catalog
    if spec.source == "sids":
        table = SIDTable.from_parquet(path)
    else:
        table = _read_lcrec(path, spec, catalog.item_ids)
    missing = set(map(str, catalog.item_ids)) - set(map(str, table.item_ids))
    if missing or table.n_items != catalog.n_items:
        raise DataError(
            f"{path}: the SID file covers {table.n_items} items, the catalog of '{dataset.name}' "
            f"{catalog.n_items} ({len(missing)} catalog items without a SID, e.g. {sorted(missing)[:3]}): "
            "a bench needs one SID per catalog item"
        )
    return table


def _read_lcrec(path: Path, spec: MethodSpec, item_ids: Any) -> SIDTable:
    """LC-Rec tokens keyed by catalog row; by default the last level is LC-Rec's tie-breaker."""
    with path.open("rb") as fh:
        raw = json.load(fh)
    rows = [int(k) for k in raw]
    if rows and (min(rows) < 0 or max(rows) >= len(item_ids)):
        raise DataError(
            f"{path}: LC-Rec keys run from {min(rows)} to {max(rows)} but the catalog has {len(item_ids)} "
            "items (key = catalog row = item id - 1): is this the index of another dataset?"
        )
    table = SIDTable.from_lcrec_index(path, item_ids=item_ids, codebook_size=spec.codebook_size)
    levels = spec.semantic_levels or max(1, table.n_levels - 1)
    if not 1 <= levels <= table.n_levels:
        raise ConfigError(f"method.{spec.label}.semantic_levels={levels}: {path} has {table.n_levels} levels")
    dedup = table.codes[:, levels] if levels < table.n_levels else None
    return SIDTable(table.item_ids, table.codes[:, :levels], table.codebook_size, dedup)


def _fit_tokenizer(
    spec: MethodSpec, seed: int, dataset: Dataset, config: BenchConfig, run_dir: Path, progress: bool
) -> MethodSIDs:
    run_config = RunConfig(
        method=spec.source,
        data=config.data,
        seed=seed,
        disambiguate=config.disambiguates(spec.label),
        embedding=config.embedding,
        tokenizer=dict(spec.params),
    )
    same = _same_run(run_dir, run_config)
    if same and (run_dir / pipeline.RUN_MARKER).exists():
        metrics = json.loads((run_dir / "metrics.json").read_text())
        table = SIDTable.from_parquet(run_dir / "sids.parquet")
        return MethodSIDs(table, metrics, float(metrics.get("fit_seconds", 0.0)), str(run_dir), True)
    # an unfinished run of this very config continues from its checkpoint; anything else starts afresh
    result = pipeline.fit(
        run_config, run_dir, dataset=dataset, progress=progress, resume=same, overwrite=not same
    )
    return MethodSIDs(result.sids, result.metrics, result.seconds, str(run_dir), False)


def _same_run(run_dir: Path, config: RunConfig) -> bool:
    """Whether ``run_dir`` was started with ``config``, as written: its config.toml has the same
    method, data, seed and disambiguation, and every parameter the bench sets (library defaults
    that a later release adds do not count, so a resumed bench keeps its SIDs). A default that
    changed (``FIRST_DEFAULTS``) counts by its effective value, a file without it by the first."""
    try:
        raw = read_toml(run_dir / "config.toml")
        saved = RunConfig.from_dict(raw)
    except ConfigError:
        return False
    default_embedding, first_embedding = EmbeddingConfig(), FIRST_DEFAULTS["embedding"]
    saved_embedding, saved_tokenizer = raw.get("embedding", {}), raw.get("tokenizer", {})
    effective = get_tokenizer_class(config.method).config_class.from_dict({**config.tokenizer, "seed": 0})
    return (
        (saved.method, saved.data, saved.seed, saved.disambiguate)
        == (config.method, config.data, config.seed, config.disambiguate)
        and all(_equal(saved.tokenizer.get(k), v) for k, v in config.tokenizer.items())
        and all(
            _equal(
                saved_embedding.get(f.name, first_embedding.get(f.name, getattr(default_embedding, f.name))),
                getattr(config.embedding, f.name),
            )
            for f in dataclasses.fields(config.embedding)
            if f.name in first_embedding
            or getattr(config.embedding, f.name) != getattr(default_embedding, f.name)
        )
        and all(
            _equal(saved_tokenizer.get(name, first), getattr(effective, name))
            for name, first in first_tokenizer_defaults(config.method).items()
            if hasattr(effective, name)
        )
    )


def _equal(a: Any, b: Any) -> bool:
    """Equality across a TOML round trip (tuples come back as lists)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
