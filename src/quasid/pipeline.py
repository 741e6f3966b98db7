"""The pipeline stages as plain functions: data -> embed -> fit -> assign -> evaluate.

The CLI is a thin layer over these. A fit writes a run folder:

    config.toml      resolved configuration (re-run or resume from it)
    checkpoint.pt    training state, refreshed during training (RQ-VAE family)
    tokenizer.pt     the fitted tokenizer
    sids.parquet     one SID per item (+ disambiguation token)
    metrics.json     intrinsic SID metrics
    run.json         written last: a folder without it is an unfinished run
"""

from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quasid import distributed
from quasid.config import EmbeddingConfig, RunConfig
from quasid.data.dataset import Dataset
from quasid.data.stream import DEFAULT_CHUNK_SIZE, EmbeddingStream, is_embedding_file, open_embeddings
from quasid.errors import ConfigError, DataError
from quasid.io import remove_stale_temps, write_json
from quasid.sid.incremental import DriftReport
from quasid.sid.table import SIDTable
from quasid.tokenizers import SIDTokenizer, get_tokenizer_class
from quasid.tokenizers.rqvae import CHECKPOINT_NAME

RUN_MARKER = "run.json"
CONFIG_NAME = "config.toml"
SYNTHETIC_PREFIX = "synthetic"


def load_data(spec: str | Path) -> Dataset:
    """A dataset from a path, a dataset name under QUASID_DATA, or ``synthetic[:key=value,...]``."""
    text = str(spec)
    if text == SYNTHETIC_PREFIX or text.startswith(SYNTHETIC_PREFIX + ":"):
        from quasid.data.synthetic import make_synthetic

        kwargs: dict[str, Any] = {}
        if ":" in text:
            for part in filter(None, text.split(":", 1)[1].split(",")):
                key, _, value = part.partition("=")
                try:
                    kwargs[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
                except ValueError:
                    raise ConfigError(f"synthetic data option {part!r} must be key=number") from None
        try:
            return make_synthetic(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"synthetic data options: {exc}") from None
    from quasid.data import load_dataset

    return load_dataset(spec)


def prepare_embeddings(
    dataset: Dataset, cfg: EmbeddingConfig, seed: int = 0, progress: bool = True
) -> Dataset:
    """Make sure the catalog carries content embeddings, computing them as ``cfg`` says."""
    cfg.validate()
    catalog = dataset.catalog
    if cfg.file:
        from quasid.data.readers import read_embeddings

        return Dataset(catalog.with_embeddings(read_embeddings(cfg.file, catalog)), dataset.interactions)
    source = cfg.source
    if source == "auto":
        if catalog.embeddings is not None:
            source = "given"
        elif catalog.texts and any(catalog.texts):
            source = "text"
        elif catalog.attributes is not None:
            source = "attributes"
        else:
            raise DataError(
                f"dataset '{catalog.name}' has no embeddings, text or attributes "
                "to build content vectors from: pass embeddings or item text"
            )
    if source == "given":
        catalog.require_embeddings()
        return dataset
    if source == "text":
        from quasid.features import embed_catalog

        catalog = embed_catalog(
            catalog, pooling=cfg.pooling, model=cfg.model, batch_size=cfg.batch_size, progress=progress
        )
    else:
        from quasid.features import embed_attributes

        catalog = embed_attributes(catalog, dim=cfg.attribute_dim, seed=seed)
    return Dataset(catalog, dataset.interactions)


def build_tokenizer(method: str, params: dict[str, Any], seed: int) -> SIDTokenizer:
    """Instantiate ``method`` with TOML-style params (unknown names rejected with the valid list)."""
    klass = get_tokenizer_class(method)
    cfg = klass.config_class.from_dict({**params, "seed": seed})
    return klass(cfg)


@dataclass
class RunResult:
    run_dir: Path
    tokenizer: SIDTokenizer
    sids: SIDTable
    metrics: dict[str, Any]  # empty on the processes other than rank 0 of a distributed run
    seconds: float


def fit(
    config: RunConfig,
    out_dir: str | Path,
    dataset: Dataset | None = None,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> RunResult:
    """Train a tokenizer and write a complete run folder (see module docstring).

    Launched by torchrun, every process trains its share (``quasid.distributed``); rank 0 alone shows
    progress and writes the run folder, the others wait for it and return without metrics.
    """
    run_dir = Path(out_dir)
    distributed.init(str(config.tokenizer.get("device", "cpu")))
    main = distributed.is_main()  # rank 0 of a distributed run, or the only process
    progress = progress and main
    if (run_dir / RUN_MARKER).exists() and not (overwrite or resume):
        raise ConfigError(f"{run_dir} already holds a finished run: pass --overwrite or choose another --out")
    if resume and not (run_dir / CONFIG_NAME).exists():
        raise ConfigError(f"cannot resume: {run_dir} has no {CONFIG_NAME} (was it made by `quasid fit`?)")
    if main:  # the marker goes first, so a run killed from here on never looks finished
        (run_dir / RUN_MARKER).unlink(missing_ok=True)
        remove_stale_temps(run_dir)
        if not resume:  # a fresh run must never resume from an older run's checkpoint
            (run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    t0 = time.perf_counter()
    dataset = dataset if dataset is not None else load_data(config.data)
    with distributed.main_first():  # rank 0 fills the embedding cache, the others then read it
        dataset = prepare_embeddings(dataset, config.embedding, config.seed, progress)
    tokenizer = build_tokenizer(config.method, config.tokenizer, config.seed)
    resolved = dataclasses.replace(
        config, tokenizer={k: v for k, v in tokenizer.config.to_dict().items() if k != "seed"}
    )
    if not resume and main:
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved.save(run_dir / CONFIG_NAME)
    fit_kwargs: dict[str, Any] = {}
    if hasattr(tokenizer, "_save_checkpoint"):
        # killed before the first checkpoint: nothing to continue from, train from the start
        fit_kwargs = {"checkpoint_dir": run_dir, "resume": resume and (run_dir / CHECKPOINT_NAME).exists()}
    tokenizer.fit(dataset, progress=progress, **fit_kwargs)
    codes = tokenizer.encode(dataset)
    sids = SIDTable.from_codes(
        dataset.catalog.item_ids, codes, tokenizer.config.codebook_size, config.disambiguate
    )
    if not main:
        distributed.barrier()  # rank 0 writes the run folder
        return RunResult(run_dir, tokenizer, sids, {}, time.perf_counter() - t0)
    tokenizer.save(run_dir / "tokenizer.pt")
    sids.to_parquet(run_dir / "sids.parquet")
    metrics = evaluate(sids, dataset)
    seconds = time.perf_counter() - t0
    metrics["fit_seconds"] = seconds
    write_json(run_dir / "metrics.json", metrics)
    replicas = getattr(tokenizer, "distributed_", None)  # world size and replica digests, when distributed
    write_json(
        run_dir / RUN_MARKER,
        {
            "status": "complete",
            "method": config.method,
            "dataset": dataset.name,
            "n_items": dataset.catalog.n_items,
            "seconds": seconds,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "history": tokenizer.history_,
            **({"distributed": replicas} if replicas else {}),
        },
    )
    distributed.barrier()
    return RunResult(run_dir, tokenizer, sids, metrics, seconds)


def load_run(run_dir: str | Path) -> tuple[RunConfig, SIDTokenizer]:
    """The config and fitted tokenizer of a finished run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_MARKER).exists():
        raise DataError(
            f"{run_dir} is not a finished quasid run (no {RUN_MARKER}); resume it with `quasid fit --resume`"
        )
    return RunConfig.load(run_dir / CONFIG_NAME), SIDTokenizer.load(run_dir / "tokenizer.pt")


def assign(
    run_dir: str | Path,
    data: str | Path | Dataset | EmbeddingStream | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SIDTable:
    """SIDs for every item of ``data`` (default: the run's own data) from a trained run.

    ``data`` may be an embedding file (``.npy``, or Parquet with a vector column and
    ``item_id``): it is streamed ``chunk_size`` rows at a time, never loaded whole.
    """
    config, tokenizer = load_run(run_dir)
    items = _assign_input(config, data, progress, chunk_size)
    ids = items.item_ids() if isinstance(items, EmbeddingStream) else items.catalog.item_ids
    codes = tokenizer.encode(items)
    table = SIDTable.from_codes(ids, codes, tokenizer.config.codebook_size, config.disambiguate)
    if out is not None:
        table.to_parquet(out)
    return table


def assign_incremental(
    run_dir: str | Path,
    existing: str | Path | SIDTable,
    data: str | Path | Dataset | EmbeddingStream | None = None,
    out: str | Path | None = None,
    drift_json: str | Path | None = None,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[SIDTable, DriftReport]:
    """Like ``assign``, but every item of the ``existing`` SID table keeps its SID exactly.

    New items are appended with fresh SIDs (``quasid.sid.incremental``); the drift
    report (how many existing items this run's tokenizer would move) goes to ``drift_json``.
    """
    from quasid.sid.incremental import assign_incremental as merge

    config, tokenizer = load_run(run_dir)
    old = existing if isinstance(existing, SIDTable) else SIDTable.from_parquet(existing)
    table, report = merge(old, tokenizer, _assign_input(config, data, progress, chunk_size))
    if out is not None:
        table.to_parquet(out)
    if drift_json is not None:
        report.write(drift_json)
    return table, report


def _assign_input(
    config: RunConfig, data: str | Path | Dataset | EmbeddingStream | None, progress: bool, chunk_size: int
) -> Dataset | EmbeddingStream:
    """The items to assign: a stream for embedding files, else the dataset with its embeddings."""
    if isinstance(data, EmbeddingStream):
        return data
    if isinstance(data, str | Path) and is_embedding_file(data):
        stream = open_embeddings(data, chunk_size)
        stream.progress = progress
        return stream
    dataset = data if isinstance(data, Dataset) else load_data(data if data is not None else config.data)
    return prepare_embeddings(dataset, config.embedding, config.seed, progress)


def evaluate(sids: SIDTable | str | Path, dataset: Dataset | str | Path | None = None) -> dict[str, Any]:
    """Intrinsic metrics of a SID table; with the dataset, harmful vs benign collisions too."""
    from quasid.metrics import sid_metrics

    table = sids if isinstance(sids, SIDTable) else SIDTable.from_parquet(sids)
    catalog = None
    if dataset is not None:
        ds = dataset if isinstance(dataset, Dataset) else load_data(dataset)
        catalog = ds.catalog
        if catalog.n_items != table.n_items or not np.array_equal(
            catalog.item_ids.astype(str), table.item_ids.astype(str)
        ):
            catalog = _align(catalog, table)
    return sid_metrics(table.codes, table.codebook_size, catalog)


def read_sids(
    path: str | Path, dataset: Dataset | None = None, semantic_levels: int | None = None
) -> SIDTable:
    """A SID table from Parquet, or from an LC-Rec ``.index.json`` (keys = catalog rows of ``dataset``).

    ``semantic_levels`` (index.json only): leading levels that are semantic (an LC-Rec index's
    tie-breaking last level is not); the rest becomes the disambiguation column.
    """
    path = Path(path)
    if path.suffix == ".json":
        ids = dataset.catalog.item_ids if dataset is not None else None
        if ids is not None:
            import json

            keys = [int(k) for k in json.loads(path.read_text(encoding="utf-8"))]
            if keys and max(keys) >= len(ids):
                raise DataError(
                    f"{path}: LC-Rec keys run to {max(keys)} but '{dataset.name}' has {len(ids)} items "
                    "(key = catalog row): is this the index of another dataset?"
                )
        return SIDTable.from_lcrec_index(path, item_ids=ids, semantic_levels=semantic_levels)
    return SIDTable.from_parquet(path)


def audit(
    sids: SIDTable | str | Path,
    data: Dataset | str | Path,
    out: str | Path | None = None,
    against: SIDTable | str | Path | None = None,
    semantic_levels: int | None = None,
    max_groups: int | None = None,
    plots: bool = True,
) -> Any:
    """``quasid audit``: collisions named item by item, code use, behaviour alignment, comparison.

    The behaviour figures use the training part of the dataset's interactions (leave-one-out: each
    user's last two events are held out), as a downstream recommender would see them. With ``out``,
    writes report.md, audit.json, collisions.parquet and plots/ there. Returns the ``SIDAudit``.
    """
    from quasid.audit import audit_sids, write_audit
    from quasid.audit.report import MAX_GROUPS
    from quasid.data.splits import leave_one_out

    ds = data if isinstance(data, Dataset) else load_data(data)
    table = sids if isinstance(sids, SIDTable) else read_sids(sids, ds, semantic_levels)
    catalog, rows = ds.catalog, None
    if catalog.n_items != table.n_items or not np.array_equal(
        catalog.item_ids.astype(str), table.item_ids.astype(str)
    ):
        rows = catalog.index_of(table.item_ids.tolist())
        catalog = _align(catalog, table)
    train = None
    if ds.interactions is not None and ds.interactions.n_events:
        train = leave_one_out(ds.interactions).train
        if rows is not None:
            train = _restrict(train, rows)
    other = None
    if against is not None:
        o = against if isinstance(against, SIDTable) else read_sids(against, ds, semantic_levels)
        other = (o.item_ids, o.codes)
    result = audit_sids(table.codes, table.codebook_size, catalog, train, other)
    if out is not None:
        write_audit(result, out, MAX_GROUPS if max_groups is None else max_groups, plots)
    return result


def _restrict(train: Any, rows: np.ndarray) -> Any:
    """Interactions on the table's items only, item indices renumbered to the table's rows."""
    from quasid.data.interactions import Interactions

    new = np.full(train.n_items, -1, dtype=np.int64)
    new[rows] = np.arange(len(rows))
    keep = new[train.items] >= 0
    return Interactions(
        train.users[keep], new[train.items[keep]], train.order[keep], train.user_ids, n_items=len(rows)
    )


def _align(catalog: Any, table: SIDTable) -> Any:
    """Restrict/reorder the catalog to the table's items (for SID tables covering a subset)."""
    from quasid.data.catalog import Catalog

    rows = catalog.index_of(table.item_ids.tolist())
    return Catalog(
        item_ids=catalog.item_ids[rows],
        texts=[catalog.texts[i] for i in rows] if catalog.texts is not None else None,
        attributes=[catalog.attributes[i] for i in rows] if catalog.attributes is not None else None,
        attribute_names=catalog.attribute_names,
        group_keys=catalog.group_keys[rows] if catalog.group_keys is not None else None,
        embeddings=catalog.embeddings[rows] if catalog.embeddings is not None else None,
        missing=catalog.missing[rows] if catalog.missing is not None else None,
        name=catalog.name,
    )
