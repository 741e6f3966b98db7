"""The bench runner: methods x seeds x recommenders on one dataset, into one resumable report folder.

Folder layout::

    results.json   every raw figure, the config, provenance; rewritten (atomically) after each cell
    report.md      rendered from results.json only (``quasid bench --render FOLDER``)
    plots/*.png    likewise
    runs/<method>-s<seed>/   each fitted tokenizer's run folder (config, SIDs, intrinsic metrics)
    runs/cells/*.pt          a cell's training state after each epoch: kept when the cell ran into its
                             epoch cap, so that a raised cap goes on from there (safe to delete)

Work goes seed by seed (the id reference, then each method's SIDs and the recommenders on
them), so a bench stopped early still holds a complete picture of its first seeds. A cell
whose record is in results.json with the same fingerprint is skipped on a re-run: a killed
multi-hour bench continues where it stopped, and the interrupted cell resumes after its last
finished epoch (its checkpoint is keyed by the cell's fingerprint without the epoch cap, so a
changed config starts over and a raised cap continues a capped cell).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from quasid import pipeline
from quasid.bench.config import RECOMMENDERS, BenchConfig, MethodSpec
from quasid.bench.methods import MethodSIDs, method_sids, peer_path
from quasid.bench.published import published_for
from quasid.bench.recommenders import (
    ProtocolData,
    build_model,
    epoch_logger,
    protocol_data,
    set_threads,
    train_cell,
)
from quasid.errors import ConfigError, DataError
from quasid.io import write_json
from quasid.progress import console
from quasid.rec.evaluate import Checkpoint

RESULTS = "results.json"
CELL_CHECKPOINTS = "runs/cells"  # each cell's training state, until it is final (see cell())
FORMAT = 1


def run_bench(
    config: BenchConfig,
    out_dir: str | Path,
    progress: bool = True,
    command: str | None = None,
    overwrite: bool = False,
    plots: bool = True,
) -> dict[str, Any]:
    """Run every pending cell of ``config`` into ``out_dir`` and render the report; returns the results.

    ``overwrite``: redo cells whose stored fingerprint differs from the config's (else a ConfigError
    says which cell changed, so a folder never mixes figures of two configurations silently).
    """
    from quasid.bench.report import render

    config.validate()
    if not config.data:
        raise ConfigError("no data given: pass a dataset path / name, or set data= in the bench config")
    out_dir = Path(out_dir)
    specs = {spec.label: spec for spec in config.method_specs()}
    for spec in specs.values():
        if not spec.is_tokenizer:
            peer_path(spec)  # a missing peer file fails now, not hours into the bench
    results = _load_or_start(out_dir, config, overwrite)
    previous_threads = set_threads(config.threads)
    try:
        runner = _Runner(config, specs, out_dir, results, progress, overwrite)
        runner.check_changed_cells()
        runner.start(command)
        runner.run()
    finally:
        set_threads(previous_threads)
    render(out_dir, plots=plots)
    console.print(f"[bold green]report[/] {out_dir / 'report.md'}", highlight=False)
    return results


def merge_folders(out_dir: str | Path, sources: list[str | Path]) -> dict[str, Any]:
    """Add the finished SID tables and cells of other bench folders to ``out_dir``'s results.

    For benches run in parallel (one process per core, one folder each) that belong in one report.
    Every folder must hold the same data and protocol; a SID table or cell present in two folders
    must have the same fingerprint (else ConfigError: the two ran different configurations). The
    sources' sessions are appended, so each cell keeps its provenance, and their tokenizer run
    folders are copied, so a resumed bench re-uses them. Returns the merged results.
    """
    import shutil

    out_dir = Path(out_dir)
    target = out_dir / RESULTS
    results = _read(target) if target.exists() else _empty_results()
    runs: list[Path] = []
    for source in map(Path, sources):
        other = _read(source / RESULTS)
        for field in ("data", "protocol"):
            mine, theirs = results.get("config", {}).get(field), other["config"].get(field)
            if "config" in results and mine != theirs:
                raise ConfigError(f"{source}: {field}={theirs!r}, but {out_dir} holds {field}={mine!r}")
        for key, record in other["sids"].items():
            _check_same(results["sids"].get(key), record, f"SIDs {key}", source)
            results["sids"][key] = record
        offset = len(results["sessions"])
        done = {_cell_key(c): c for c in results["cells"]}
        for cell in other["cells"]:
            what = "cell {} · {} · seed {}".format(*_cell_key(cell))
            _check_same(done.get(_cell_key(cell)), cell, what, source)
            done[_cell_key(cell)] = {**cell, "session": cell["session"] + offset}
        results["cells"] = list(done.values())
        results["sessions"] += [{**session, "merged_from": str(source)} for session in other["sessions"]]
        results["methods"] = {**other["methods"], **results["methods"]}
        for key in ("config", "dataset", "published"):
            results.setdefault(key, other[key])
        runs += sorted((source / "runs").glob("*")) if (source / "runs").is_dir() else []
    for run in runs:  # only once every source has merged cleanly
        if not (out_dir / "runs" / run.name).exists():
            shutil.copytree(run, out_dir / "runs" / run.name)
    if "config" in results:
        from quasid.bench.report import comparisons

        results["paired"] = comparisons(results)  # over the joined cells, not any one source's
    write_json(target, results)
    return results


def _check_same(mine: dict[str, Any] | None, theirs: dict[str, Any], what: str, source: Path) -> None:
    if mine is not None and mine["fingerprint"] != theirs["fingerprint"]:
        raise ConfigError(
            f"{source}: {what} ran with another configuration than the one already in the target "
            "folder: merge only folders of the same bench config"
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found: give a bench report folder (one holding {RESULTS})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}): move it away to start the bench afresh") from None
    if results.get("format") != FORMAT:
        raise DataError(f"{path} was written by another bench format ({results.get('format')!r})")
    return results


def _empty_results() -> dict[str, Any]:
    return {"format": FORMAT, "sessions": [], "methods": {}, "sids": {}, "cells": []}


def _load_or_start(out_dir: Path, config: BenchConfig, overwrite: bool) -> dict[str, Any]:
    path = out_dir / RESULTS
    if not path.exists():
        return _empty_results()
    results = _read(path)
    old = results.get("config", {})
    if old.get("data") != config.data or old.get("protocol") != config.protocol:
        if not overwrite:
            raise ConfigError(
                f"{out_dir} holds a bench of data={old.get('data')!r} protocol={old.get('protocol')!r}, "
                f"not data={config.data!r} protocol={config.protocol!r}: choose another -o folder"
            )
        results.update({"sids": {}, "cells": []})
    return results


class _Runner:
    """One invocation of a bench: walks the plan, skipping finished cells, saving after each."""

    def __init__(
        self,
        config: BenchConfig,
        specs: dict[str, MethodSpec],
        out_dir: Path,
        results: dict[str, Any],
        progress: bool,
        overwrite: bool,
    ) -> None:
        self.config = config
        self.specs = specs
        self.out_dir = out_dir
        self.results = results
        self.progress = progress
        self.overwrite = overwrite
        self.done = {_cell_key(c): c for c in results["cells"]}
        self.plan = config.cells()
        self.counter = 0
        self.dataset: Any = None
        self.data: ProtocolData | None = None

    # --- set-up ----------------------------------------------------------------------------
    def check_changed_cells(self) -> None:
        """Refuse, before any work, to mix cells of another configuration into this folder."""
        if self.overwrite:
            return
        for key in self.plan:
            old = self.done.get(key)
            if old is not None and not self.config.cell_matches(old) and not self.config.cap_raised_only(old):
                name, label, seed = key
                raise ConfigError(
                    f"{self.out_dir / RESULTS} holds cell {name} / {label or 'item ids'} / seed {seed} "
                    "from a different configuration: use another -o folder, or --overwrite to redo the "
                    "changed cells"
                )

    def start(self, command: str | None) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        dataset = pipeline.load_data(cfg.data)
        if cfg.recommenders:
            self.data = protocol_data(dataset, cfg)
            dataset = self.data.tokenizer_data
        if any(spec.is_tokenizer for spec in self.specs.values()):
            # once, up front: every method and seed fits on the same vectors (text embeddings are cached)
            dataset = pipeline.prepare_embeddings(dataset, cfg.embedding, 0, self.progress)
            if self.data is not None:
                self.data.tokenizer_data = dataset
        self.dataset = dataset
        res = self.results
        res["config"] = cfg.to_dict()
        res["methods"].update({label: spec.to_dict() for label, spec in self.specs.items()})
        res["dataset"] = {
            "name": dataset.name,
            "items": dataset.catalog.n_items,
            **(self.data.summary if self.data is not None else {}),
        }
        res["published"] = published_for(dataset.name)
        res["sessions"].append(
            {**provenance(command, cfg.threads), "setup_seconds": time.perf_counter() - t0}
        )
        self.save()

    # --- the plan --------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.config
        needed = set(cfg.sid_plan())
        for seed in cfg.seeds:
            for name in cfg.recommenders:
                if not RECOMMENDERS[name] and (name, None, seed) in self.plan:  # <name>.seeds may skip it
                    self.cell(name, None, seed, None)
            for label in cfg.methods:
                if (label, seed) not in needed:  # no cell of this seed trains on them (seed_methods)
                    continue
                sids: MethodSIDs | None = None
                if not self.sid_record_is_current(label, seed):
                    sids = self.fit_sids(label, seed)
                for name in cfg.recommenders:
                    if RECOMMENDERS[name] and (name, label, seed) in self.plan:
                        if sids is None and self.pending(name, label, seed):
                            sids = self.fit_sids(label, seed)
                        self.cell(name, label, seed, sids)
        self.results["sessions"][-1]["finished"] = _now()
        self.save()

    def sid_record_is_current(self, label: str, seed: int) -> bool:
        record = self.results["sids"].get(_sid_key(label, seed))
        return record is not None and record["fingerprint"] == self.config.sid_fingerprint(label)

    def fit_sids(self, label: str, seed: int) -> MethodSIDs:
        spec = self.specs[label]
        what = "fitting" if spec.is_tokenizer else "reading"
        console.print(f"[bold]sids[/] {label} seed {seed}: {what}", highlight=False)
        sids = method_sids(spec, seed, self.dataset, self.config, self.out_dir / "runs", self.progress)
        self.results["sids"][_sid_key(label, seed)] = sids.record(
            spec, seed, self.config.sid_fingerprint(label)
        )
        m = sids.metrics
        console.print(
            f"[bold]sids[/] {label} seed {seed}: collisions {m['collision_rate']:.1%}, "
            f"{m['n_unique_sids']} distinct SIDs ({sids.seconds:.0f}s{', re-used' if sids.reused else ''})",
            highlight=False,
        )
        self.save()
        return sids

    def pending(self, name: str, label: str | None, seed: int) -> bool:
        old = self.done.get((name, label, seed))
        return old is None or not self.config.cell_matches(old)

    def cell(self, name: str, label: str | None, seed: int, sids: MethodSIDs | None) -> None:
        cfg = self.config
        self.counter += 1
        head = f"[{self.counter}/{len(self.plan)}] {name} · {label or 'item ids'} · seed {seed}"
        fingerprint = cfg.cell_fingerprint(name, label, seed)
        old = self.done.get((name, label, seed))
        if old is not None and self.config.cell_matches(old):
            console.print(f"{head}: done earlier, skipped", highlight=False)
            return
        assert self.data is not None
        console.print(f"{head}: training", highlight=False)
        model = build_model(
            name,
            cfg.model_config(name, seed),
            self.dataset,
            None if sids is None else sids.table,
            cfg.device,
        )
        path = self.out_dir / CELL_CHECKPOINTS / f"{name}-{label or 'ids'}-s{seed}.pt"
        # keyed without the epoch cap: a cell that ran into its cap goes on from there when it is raised
        checkpoint = Checkpoint(path, cfg.cell_fingerprint(name, label, seed, epochs=0))
        train_config = cfg.train_config(name, seed, self.progress)
        # a log (no terminal) shows no progress bar: one line per epoch instead
        on_epoch = None if console.is_terminal and train_config.progress else epoch_logger(f"{head}: ")
        record = train_cell(model, train_config, self.data, cfg.valid_users(name), on_epoch, checkpoint)
        record = {
            "recommender": name,
            "method": label,
            "seed": seed,
            "fingerprint": fingerprint,
            "session": len(self.results["sessions"]) - 1,
            **record,
        }
        self.results["cells"] = [c for c in self.results["cells"] if _cell_key(c) != (name, label, seed)]
        self.results["cells"].append(record)
        self.done[(name, label, seed)] = record
        self.save()
        if record["stop"] != "epochs":  # patience and the time budget are final; a cap may be raised
            checkpoint.remove()
        test = record["test"]
        console.print(
            f"{head}: test ndcg@10 {test['ndcg@10']:.4f} recall@10 {test['recall@10']:.4f} "
            f"(best epoch {record['best_epoch']}/{record['epochs_run']}, {record['stop']}, "
            f"{record['seconds'] / 60:.1f} min)",
            highlight=False,
        )

    def save(self) -> None:
        """results.json, then the Markdown report (plots are drawn once, at the end)."""
        from quasid.bench.report import comparisons, render

        self.results["sessions"][-1]["updated"] = _now() if self.results["sessions"] else None
        if "config" in self.results:
            self.results["paired"] = comparisons(self.results)
        write_json(self.out_dir / RESULTS, self.results)
        if "config" in self.results:
            render(self.out_dir, plots=False)


def _cell_key(cell: dict[str, Any]) -> tuple[str, str | None, int]:
    return cell["recommender"], cell["method"], int(cell["seed"])


def _sid_key(label: str, seed: int) -> str:
    return f"{label}/s{seed}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def provenance(command: str | None, threads: int) -> dict[str, Any]:
    """What produced the figures: command, package version, git commit, machine, threads."""
    import torch

    try:
        version = metadata.version("quasid")
    except metadata.PackageNotFoundError:
        version = None
    return {
        "command": command,
        "started": _now(),
        "quasid_version": version,
        **_git_state(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        # bf16 cells' arithmetic, and even fp32 tokenizer fits, differ between CPU types: compare
        # cells made on one (docs/bench.md)
        "bf16_matmul_isa": bf16_matmul_isa(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": threads,
    }


def _git_state() -> dict[str, Any]:
    """Commit of the source tree the package runs from, and whether it had uncommitted changes."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` of ``/proc/cpuinfo``, or None where there is none (not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def bf16_matmul_isa() -> str:
    """Which bf16 matmul instructions the CPU has: AMX tiles run bf16 products several times faster
    than AVX512-BF16, so every bf16 speed lever's gain depends on it."""
    flags = (_cpuinfo("flags") or "").split()
    return "AMX-BF16" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else "none"
