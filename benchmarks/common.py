"""What every benchmark script shares: output options, the command line it records, writing JSON + page.

Each script writes its raw figures to ``benchmarks/results/<name>.json`` and
renders a docs page from that JSON only, so a page can be re-rendered
(``--render JSON``) but never edited by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from quasid.bench.runner import bf16_matmul_isa, cpu_model
from quasid.config import EmbeddingConfig
from quasid.io import write_json

#: The text embedding these scripts' committed figures were made with: all-MiniLM-L6-v2 of one joined
#: string per item (the library's default pooling became ``fields`` later, issue 11).
TEXT_EMBEDDING = EmbeddingConfig(source="text", pooling="joined")

Render = Callable[[dict[str, Any], Path], None]


def machine() -> dict[str, Any]:
    """The CPU a run's timings come from, with its bf16 matmul instructions."""
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "bf16_matmul_isa": bf16_matmul_isa(),
        "torch": torch.__version__,
    }


def parser(doc: str, name: str, page: str) -> argparse.ArgumentParser:
    """An argument parser with --threads, --out (results JSON), --doc (page) and --render."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument("--out", type=Path, default=Path(f"benchmarks/results/{name}.json"))
    ap.add_argument("--doc", type=Path, default=Path(f"docs/{page}.md"))
    ap.add_argument("--render", type=Path, help="Only re-render --doc from this results JSON.")
    return ap


def command_line(args: argparse.Namespace, skip: tuple[str, ...] = ("out", "doc", "render")) -> str:
    """The command that reproduces this run, every option spelled out."""
    parts = [f"python benchmarks/{Path(sys.argv[0]).name}"]
    for key, value in vars(args).items():
        if key in skip or value is None:
            continue
        shown = " ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"--{key.replace('_', '-')} {shown}")
    return " ".join(parts)


def render_only(args: argparse.Namespace, render: Render) -> bool:
    """With --render, re-render the page from that JSON and report True (nothing else to do)."""
    if args.render is None:
        return False
    render(json.loads(args.render.read_text()), args.doc)
    return True


def finish(args: argparse.Namespace, results: dict[str, Any], render: Render) -> None:
    """Record the command, write the results JSON (atomically), render the page."""
    results["command"] = command_line(args)
    write_json(args.out, results)
    render(results, args.doc)


def run_rows(
    args: argparse.Namespace,
    render: Render,
    items: list[Any],
    missing: str,
    rows_of: Callable[[Any], list[dict[str, Any]]],
) -> None:
    """The main of a script whose results are rows, one or more per item of a list option."""
    if render_only(args, render):
        return
    if not items:
        raise SystemExit(f"error: {missing}")
    import torch

    torch.set_num_threads(args.threads)
    finish(args, {"rows": [row for item in items for row in rows_of(item)]}, render)
