"""`quasid` command line: a thin Typer layer over quasid.pipeline.

User errors (bad files, bad parameters, a wrong command line) print one line and
exit 2; `--debug` shows the traceback. `--strict` makes reader fallbacks errors.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from quasid.config import DEFAULT_POOLING, RunConfig
from quasid.data.stream import DEFAULT_CHUNK_SIZE
from quasid.errors import ConfigError, DataWarning, QuasidError, UsageError


class _Lazy:
    """A module imported on first attribute use, so a usage error or --help answers without torch.

    A plain forwarder, not a lazy entry in sys.modules: code that walks sys.modules (torch's
    ``inspect.getmodule`` does, while importing) must not set off the import half-way.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


distributed: Any = _Lazy("quasid.distributed")
pipeline: Any = _Lazy("quasid.pipeline")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Learn collision-qualified Semantic IDs and measure them against the baselines.",
    pretty_exceptions_enable=False,
)
out = Console()
_state: dict[str, Any] = {"debug": False, "signal": 0}

Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            envvar="QUASID_STRICT",
            help="Stop on reader fallbacks (items without content, repeated events) instead of warning.",
        ),
    ] = False,
) -> None:
    _state["debug"] = debug
    if strict:
        warnings.simplefilter("error", DataWarning)


def _run_config(
    data: str | None, method: str | None, config: Path | None, seed: int | None, sets: list[str] | None
) -> RunConfig:
    cfg = RunConfig.load(config) if config else RunConfig()
    overrides = list(sets or [])
    if method:
        overrides.insert(0, f'method="{method}"')
    if data:
        overrides.insert(0, f"data={json.dumps(str(data))}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    cfg = cfg.override(overrides)
    if not cfg.data:
        raise ConfigError("no data given: pass a dataset path / name, or set data= in the config file")
    return cfg


@app.command()
def fit(
    data: Annotated[
        str | None,
        typer.Argument(
            help="Dataset folder/file, a name under QUASID_DATA, or 'synthetic'; "
            "with --resume, the run folder."
        ),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", "-m", help="Tokenizer: rqkmeans, rqvae, ...")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<data>-<method>-s<seed>).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config; options below override it.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    levels: Annotated[int | None, typer.Option("--levels", "-L", help="Tokens per SID.")] = None,
    codebook_size: Annotated[
        int | None, typer.Option("--codebook-size", "-K", help="Codes per level.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (trained methods).")] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Override any config key, e.g. tokenizer.lr=0.002")
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            "--embeddings", help="Precomputed .npy embeddings, rows in catalog order (`quasid embed`)."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue a killed run from its last checkpoint, with its own config: "
            "`quasid fit --resume RUN_DIR` (or `--resume -o RUN_DIR`).",
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished run in --out.")] = False,
    progress: Progress = True,
) -> None:
    """Train a tokenizer and write a run folder (config, tokenizer, sids.parquet, metrics.json)."""
    extra = [
        f"tokenizer.{k}={v}"
        for k, v in (("n_levels", levels), ("codebook_size", codebook_size), ("epochs", epochs))
        if v is not None
    ]
    if embeddings is not None:
        extra.append(f"embedding.file={json.dumps(str(embeddings))}")
    if resume:
        given = [
            name
            for name, value in (("--method", method), ("--config", config), ("--seed", seed), ("--set", sets))
            if value
        ] + (["-L/-K/--epochs/--embeddings"] if extra else [])
        out_dir = _resume_dir(data, out_dir, given)
        cfg = RunConfig.load(out_dir / pipeline.CONFIG_NAME)
    else:
        cfg = _run_config(data, method, config, seed, [*(sets or []), *extra])
    if out_dir is None:
        out_dir = Path("runs") / f"{Path(cfg.data).name.replace(':', '_')}-{cfg.method}-s{cfg.seed}"
    result = pipeline.fit(cfg, out_dir, progress=progress, resume=resume, overwrite=overwrite)
    if distributed.is_main():  # under torchrun, rank 0 alone reports
        out.print(
            f"[bold green]done[/] {cfg.method} on {cfg.data} in {result.seconds:.1f}s -> {result.run_dir}"
        )
        _print_metrics(result.metrics)
        from quasid.audit.predictor import predictor_line

        line = predictor_line(result.metrics)  # the study's best cheap probe, when one predicts well
        if line:
            out.print(line, highlight=False)


def _resume_dir(data: str | None, out_dir: Path | None, options: list[str]) -> Path:
    """The run folder ``--resume`` continues: the positional argument or ``--out`` (not two different)."""
    if options:
        raise ConfigError(
            f"--resume continues a run with its own config.toml: drop {', '.join(options)} "
            "(or start a new run without --resume)"
        )
    if data is not None and out_dir is not None and Path(data) != out_dir:
        raise ConfigError(f"--resume got two run folders, {data} and --out {out_dir}: give one")
    run_dir = out_dir if out_dir is not None else Path(data) if data is not None else None
    if run_dir is None:
        raise ConfigError("--resume needs the run folder: `quasid fit --resume RUN_DIR`")
    if not run_dir.is_dir():
        raise ConfigError(f"cannot resume: the run folder {run_dir} does not exist: check the path")
    if not (run_dir / pipeline.CONFIG_NAME).is_file():
        raise ConfigError(
            f"cannot resume: {run_dir} has no {pipeline.CONFIG_NAME} (was it made by `quasid fit`?)"
        )
    return run_dir


@app.command()
def assign(
    run: Annotated[Path, typer.Argument(help="A finished `quasid fit` run folder.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="Items to assign (default: the run's data): a dataset, or an embedding file "
            "(.npy, or Parquet with item_id + a vector column), streamed in chunks."
        ),
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Output SID table (Parquet).")] = Path(
        "sids.parquet"
    ),
    lcrec_index: Annotated[
        Path | None, typer.Option(help="Also write LC-Rec index.json tokens here.")
    ] = None,
    existing: Annotated[
        Path | None,
        typer.Option(help="SID table whose items keep their SIDs exactly; only new items get SIDs."),
    ] = None,
    drift_json: Annotated[
        Path | None,
        typer.Option(help="With --existing: write how many existing items this tokenizer would move."),
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Rows per chunk when streaming an embedding file.")] = (
        DEFAULT_CHUNK_SIZE
    ),
    progress: Progress = True,
) -> None:
    """Assign SIDs to items with a trained tokenizer (incrementally with --existing)."""
    if existing is None:
        if drift_json is not None:
            raise ConfigError("--drift-json compares against an existing SID table: pass --existing too")
        table = pipeline.assign(run, data, out_file, progress=progress, chunk_size=chunk_size)
    else:
        table, report = pipeline.assign_incremental(
            run, existing, data, out_file, drift_json, progress=progress, chunk_size=chunk_size
        )
        told_apart = "a fresh disambiguation token" if report.disambiguated else "no token: they collide"
        out.print(
            f"kept {report.n_existing} existing SIDs, added {report.n_new} new items "
            f"({report.new_sharing_existing_sid} on an existing SID, {told_apart}); "
            f"this tokenizer would move {report.moved} of {report.n_overlap} existing items "
            f"({report.moved_fraction:.2%}; by first changed level {report.moved_by_first_level})"
        )
    if lcrec_index is not None:
        table.to_lcrec_index(lcrec_index)
    out.print(f"[bold green]wrote[/] {table.n_items} SIDs to {out_file}")


@app.command()
def evaluate(
    sids: Annotated[Path, typer.Argument(help="SID table (Parquet) from `fit` or `assign`.")],
    data: Annotated[
        str | None, typer.Option(help="Dataset, to split collisions into harmful and benign.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics JSON here.")] = None,
) -> None:
    """Intrinsic SID metrics: collisions (harmful vs benign), utilisation, diversity."""
    metrics = pipeline.evaluate(sids, data)
    if json_out is not None:
        from quasid.io import write_json

        write_json(json_out, metrics)
    _print_metrics(metrics)


@app.command()
def audit(
    sids: Annotated[Path, typer.Argument(help="SID table: Parquet (`fit`, `assign`) or LC-Rec .index.json.")],
    data: Annotated[str, typer.Option(help="Dataset the SIDs belong to (catalog + interactions).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.md, audit.json, plots/.")],
    against: Annotated[
        Path | None, typer.Option(help="A second SID table of the same catalog: which items moved.")
    ] = None,
    semantic_levels: Annotated[
        int | None, typer.Option(help="Semantic levels of an .index.json (LC-Rec: 3 of 4).")
    ] = None,
    max_groups: Annotated[
        int, typer.Option(help="Harmful groups listed in full; the rest one line each.")
    ] = 200,
) -> None:
    """Name every harmful collision, and how the codes sit against popularity and behaviour."""
    result = pipeline.audit(sids, data, out_dir, against, semantic_levels, max_groups)
    c = result.summary["collisions"]
    out.print(
        f"{c['harmful_groups']:,} harmful and {c['benign_groups']:,} benign collision groups; "
        f"[bold green]wrote[/] {out_dir / 'report.md'}"
    )


@app.command()
def embed(
    data: Annotated[str, typer.Argument(help="Dataset folder/file or name.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Output .npy matrix, rows in catalog order.")],
    source: Annotated[str, typer.Option(help="auto, text or attributes.")] = "auto",
    model: Annotated[
        str, typer.Option(help="sentence-transformers model name or local path.")
    ] = "all-MiniLM-L6-v2",
    attribute_dim: Annotated[int, typer.Option(help="Dimension of attribute embeddings.")] = 64,
    pooling: Annotated[
        str,
        typer.Option(help="Text: 'fields' (each field apart, averaged) or 'joined' (one string per item)."),
    ] = DEFAULT_POOLING,
    progress: Progress = True,
) -> None:
    """Compute content embeddings (text via sentence-transformers, or attribute SVD)."""
    from quasid.config import EmbeddingConfig
    from quasid.io import atomic_path

    dataset = pipeline.prepare_embeddings(
        pipeline.load_data(data),
        EmbeddingConfig(source=source, model=model, attribute_dim=attribute_dim, pooling=pooling),
        progress=progress,
    )
    emb = dataset.catalog.require_embeddings()
    with atomic_path(out_file) as tmp, open(tmp, "wb") as fh:
        np.save(fh, emb)
    out.print(f"[bold green]wrote[/] {emb.shape[0]} x {emb.shape[1]} embeddings to {out_file}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where the demo's run folders go.")] = Path(
        "runs/demo"
    ),
    items: Annotated[int, typer.Option(help="Synthetic catalog size.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    progress: Progress = True,
) -> None:
    """The whole path on a built-in synthetic catalog: fit each tokenizer, compare their SIDs."""
    from quasid.demo import run_demo

    run_demo(out_dir, n_items=items, seed=seed, progress=progress, console=out)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context,
    data: Annotated[
        str | None, typer.Argument(help="Dataset (path, name under QUASID_DATA, 'synthetic'); give it first.")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (resumable).")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Bench TOML; options override it.")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Override any bench key, e.g. tiger.train.epochs=5")
    ] = None,
    render: Annotated[
        Path | None, typer.Option("--render", help="Only re-render FOLDER's report from its results.json.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Redo cells whose configuration changed.")
    ] = False,
    merge: Annotated[
        list[Path] | None,
        typer.Option("--merge", help="First add FOLDER's finished cells to --out (repeatable)."),
    ] = None,
    progress: Progress = True,
) -> None:
    """Methods x seeds x recommenders on one dataset -> report folder (report.md, results.json, plots/).

    List options take several values: --methods rqkmeans rqvae lcrec:PATH quasid (also sids:PATH,
    LABEL=SPEC), --seeds 0 1 2, --recommenders sasrec_sid sasrec_id sasrec_hybrid tiger
    (or none).
    Re-running on the same folder skips finished cells. Benches run in parallel into separate
    folders join with --merge FOLDER: with no data or config given, it only merges and renders.
    """
    import shlex

    from quasid.bench import BenchConfig, merge_folders, report, run_bench
    from quasid.bench.config import parse_list_options

    if render is not None:
        out.print(f"[bold green]wrote[/] {report.render(render)}")
        return
    if merge:
        if out_dir is None:
            raise ConfigError("quasid bench --merge needs --out FOLDER: the folder to merge into")
        merge_folders(out_dir, merge)
        if data is None and config is None and not ctx.args:
            out.print(f"[bold green]wrote[/] {report.render(out_dir)}")
            return
    tokens = list(ctx.args)
    if data is not None and data.startswith("-"):  # no DATA: click took the first list option for it
        tokens, data = [data, *tokens], None
    cfg = BenchConfig.from_cli(data, config, parse_list_options(tokens), sets)
    if out_dir is None:
        raise ConfigError("quasid bench needs --out FOLDER for its report (re-use it to resume)")
    command = shlex.join(["quasid", *sys.argv[1:]])
    run_bench(cfg, out_dir, progress=progress, command=command, overwrite=overwrite)


def _print_metrics(metrics: dict) -> None:
    from quasid.metrics import format_metrics

    out.print(format_metrics(metrics))


def _terminate(signum: int, frame: object) -> None:
    _state["signal"] = signum
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the app, turning user errors (and usage errors) into one clear line.

    SIGTERM unwinds like Ctrl-C, so half-written temporary files are removed on the way out.
    """
    _state["signal"] = 0
    signal.signal(signal.SIGTERM, _terminate)
    with warnings.catch_warnings():  # --strict and the one-line warnings last for this run only
        warnings.showwarning = _show_warning
        try:
            status = app(standalone_mode=False)  # Typer turns Ctrl-C into a returned 130, not an exception
            if _state["signal"] or status == 128 + signal.SIGINT:
                raise KeyboardInterrupt
        except QuasidError as exc:
            if _state["debug"]:
                raise
            _print_error(exc)
            sys.exit(2)
        except (typer.Abort, KeyboardInterrupt):
            Console(stderr=True).print(
                "[bold red]terminated[/]" if _state["signal"] else "[bold red]aborted[/]"
            )
            sys.exit(128 + (_state["signal"] or signal.SIGINT))
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except Exception as exc:
            if not _is_click_exception(exc) or _debug_requested(exc):
                raise
            if _is_a(exc, "NoArgsIsHelpError"):  # bare `quasid`: the help, as Typer shows it
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)  # type: ignore[attr-defined]
            _print_error(UsageError(_usage_message(exc)))
            sys.exit(2 if _is_a(exc, "UsageError") else exc.exit_code)  # type: ignore[attr-defined]
    if isinstance(status, int) and status:
        sys.exit(status)


def _print_error(exc: Exception) -> None:
    message = " ".join(str(exc).split())  # one line, whatever a wrapped library message held
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, *args: Any, **kw: Any
) -> None:
    """Reader fallbacks print as one ``warning:`` line; other warnings as Python shows them."""
    if not issubclass(category, DataWarning):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno))
        return
    text = " ".join(str(message).split())
    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {escape(text)}", highlight=False)


# --- click's usage errors, whichever click raised them ----------------------------------------
# Typer up to 0.2x runs on click; later releases ship their own copy (typer._click), whose classes
# are not click's. Both keep click's class names and attributes, so the errors are told apart by
# name (ClickException, UsageError, NoSuchOption, ...) and read through their attributes.


def _is_a(exc: BaseException, class_name: str) -> bool:
    return any(cls.__name__ == class_name for cls in type(exc).__mro__)


def _is_click_exception(exc: BaseException) -> bool:
    return _is_a(exc, "ClickException") and callable(getattr(exc, "format_message", None))


def _debug_requested(exc: BaseException) -> bool:
    """``--debug`` was given: usage errors in the command's own options come after the callback ran,
    an unknown command before it, when only the root context's parsed parameters know."""
    ctx = getattr(exc, "ctx", None)
    root = ctx.find_root() if ctx is not None else None
    return bool(_state["debug"] or (root is not None and root.params.get("debug")))


def _usage_message(exc: Exception) -> str:
    """One line that names the option / argument / command and says what it takes."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else _command_in_argv()
    see = f"see `{command} --help`"
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    if _is_a(exc, "NoSuchOption"):
        option = exc.option_name  # type: ignore[attr-defined]
        close = sorted(getattr(exc, "possibilities", None) or [])
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        if ctx is not None and ctx.parent is not None and option in _root_options(ctx):
            return (
                f"no such option {option} for `{command}`: {option} belongs to quasid itself and goes "
                f"before the command: `quasid {option} {ctx.info_name} ...`"
            )
        return f"no such option {option} for `{command}`{hint}: {see} for its options"
    if message.startswith("No such command") and ctx is not None and hasattr(ctx.command, "list_commands"):
        names = ", ".join(ctx.command.list_commands(ctx))
        return f"{message} The commands are {names}: {see}"
    if _is_a(exc, "MissingParameter"):
        param = getattr(exc, "param", None)
        about = f": {getattr(param, 'help', '').rstrip('.')}" if getattr(param, "help", None) else ""
        usage = f"; {' '.join(ctx.get_usage().split())}" if ctx is not None else ""
        return f"{message.rstrip('.')}{about}{usage}; {see}"
    return f"{message} ({see})"


def _command_in_argv() -> str:
    """``quasid VERB`` for the first command name on the command line (errors without a context)."""
    names = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    return " ".join(["quasid", *[a for a in sys.argv[1:] if a in names][:1]])


def _root_options(ctx: Any) -> set[str]:
    root = ctx.find_root()
    return {opt for param in root.command.params for opt in getattr(param, "opts", [])}


if __name__ == "__main__":
    main()
