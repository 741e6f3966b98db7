"""The audit's plots: collision group sizes, code use per level, behaviour alignment per depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quasid.audit.groups import CollisionGroups
from quasid.plotting import integer_ticks, pyplot, save_png


def draw_audit(summary: dict[str, Any], groups: CollisionGroups | None, out_dir: Path) -> list[Path]:
    """Every plot the summary supports; returns the files written."""
    plt = pyplot()
    written = []
    try:
        if groups is not None and groups.n_groups:
            written.append(collision_groups(plt, groups, out_dir / "collision_groups.png"))
        written.append(code_use(plt, summary, out_dir / "code_use.png"))
        if summary.get("alignment"):
            written.append(alignment(plt, summary["alignment"], out_dir / "alignment.png"))
    finally:
        plt.close("all")
    return written


def collision_groups(plt: Any, groups: CollisionGroups, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    harmful = groups.harmful_pairs > 0
    top = int(groups.sizes.max())
    bins = np.arange(2, top + 2) - 0.5 if top <= 40 else np.unique(np.geomspace(2, top + 1, 30).astype(int))
    ax.hist(
        [groups.sizes[harmful], groups.sizes[~harmful]],
        bins=bins,
        label=["harmful", "benign"],
        color=["C3", "C2"],
        stacked=True,
    )
    ax.set_xlabel("items in the group")
    ax.set_ylabel("collision groups")
    ax.set_yscale("log")
    ax.set_title("collision groups by size")
    ax.legend(fontsize=8)
    return save_png(fig, path)


def code_use(plt: Any, summary: dict[str, Any], path: Path) -> Path:
    m = summary["metrics"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    levels = np.arange(1, m["n_levels"] + 1)
    axes[0].plot(levels, m["utilisation"], marker="o", label="utilisation")
    axes[0].plot(levels, m["entropy"], marker="s", label="entropy / log K")
    axes[0].set_ylim(0, 1.05)
    axes[0].set_xlabel("level")
    integer_ticks(axes[0].xaxis)
    axes[0].set_title("codebook use per level")
    axes[0].legend(fontsize=8)
    pop = summary.get("popularity")
    if pop is not None:
        depth = np.arange(1, len(pop["head_prefixes"]) + 1)
        axes[1].plot(depth, pop["head_prefixes"], marker="o", label="top 10 % items")
        axes[1].plot(depth, pop["random_prefixes"], marker="s", label="random 10 %")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("depth")
        integer_ticks(axes[1].xaxis)
        axes[1].set_title("distinct prefixes occupied (popularity allocation)")
        axes[1].legend(fontsize=8)
    else:
        axes[1].set_axis_off()
    return save_png(fig, path)


def alignment(plt: Any, a: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(a["depth"], a["shared"], marker="o", label="co-occurring pairs (SID)")
    ax.plot(a["depth"], a["popularity_pairs"], marker=".", ls="--", label="random pairs, popularity-matched")
    ax.plot(a["depth"], a["random_pairs"], marker=".", ls=":", label="random pairs")
    if a.get("category_control"):
        ax.plot(
            a["depth"], a["category_control"]["shared"], marker="s", label="co-occurring pairs (category)"
        )
    ax.set_yscale("log")
    ax.set_xlabel("shared prefix depth")
    integer_ticks(ax.xaxis)
    ax.set_ylabel("share of pairs")
    ax.set_title("behaviour alignment")
    ax.legend(fontsize=8)
    return save_png(fig, path)
