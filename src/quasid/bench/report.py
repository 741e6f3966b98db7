"""The bench report: report.md (and plots) rendered from results.json alone, so no figure is typed by hand.

Figures are test metrics at the epoch of best validation NDCG@10, as mean and sample
standard deviation over seeds. Gains are relative to the best *baseline* (every method
whose role is ``baseline``, i.e. all but QuaSID and its ablations), taken per metric.
Only cells and SID records whose fingerprint matches the stored config are shown, so a
folder that was re-run with another configuration never mixes the two in one table.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import tomli_w

from quasid.bench.config import RECOMMENDERS, BenchConfig
from quasid.bench.figures import ID_ROW, METRIC_NAMES, METRICS, REC_NAMES, aggregate, current, mean_std
from quasid.bench.paired import compare_cells
from quasid.bench.plots import draw_all
from quasid.errors import DataError
from quasid.io import atomic_open

#: The issue's target: QuaSID at least +5.9 % NDCG@10 over the best baseline tokenizer.
TARGET = {"method": "quasid", "metric": "ndcg@10", "gain": 0.059}
SID_INTRINSIC = (
    ("collision_rate", "collision"),
    ("harmful_collision_rate", "harmful"),
    ("benign_collision_rate", "benign"),
)


def gains(rows: dict[str, dict[str, Any]], roles: dict[str, str]) -> dict[str, Any]:
    """Per metric: the best baseline (highest mean test figure) and every method's relative gain over it.

    ``{"best": {metric: label | None}, "gain": {label: {metric: gain | None}}}``; a gain is None
    when there is no baseline or its figure is 0.
    """
    baselines = [label for label in rows if roles.get(label) == "baseline"]
    best: dict[str, str | None] = {}
    gain: dict[str, dict[str, float | None]] = {label: {} for label in rows if label in roles}
    for m in METRICS:
        top = max(baselines, key=lambda label: rows[label]["test"][m][0], default=None)
        best[m] = top
        ref = rows[top]["test"][m][0] if top is not None else 0.0
        for label in gain:
            gain[label][m] = (rows[label]["test"][m][0] - ref) / ref if ref > 0 else None
    return {"best": best, "gain": gain}


def target_status(rows: dict[str, dict[str, Any]], roles: dict[str, str]) -> str | None:
    """One sentence on the issue's target for one recommender (None when QuaSID or baselines are absent)."""
    method, metric, goal = TARGET["method"], TARGET["metric"], TARGET["gain"]
    if method not in rows:
        return None
    g = gains(rows, roles)
    value, best = g["gain"][method][metric], g["best"][metric]
    if value is None or best is None:
        return None
    head = (
        f"Target: {method} at least {goal:+.1%} {METRIC_NAMES[metric]} over the best baseline "
        f"({best}). Measured: {value:+.1%}"
    )
    if value >= goal:
        return f"{head}: **met**."
    return f"{head}: **short by {100 * (goal - value):.1f} percentage points**."


# --- Markdown --------------------------------------------------------------------------------
def _fmt(ms: tuple[float, float | None], digits: int = 4) -> str:
    return f"{ms[0]:.{digits}f}" if ms[1] is None else f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _run_columns(row: dict[str, Any]) -> list[str]:
    stops = ", ".join(row["stops"])
    if row.get("capped"):
        stops += f" (**{row['capped']} of {row['n']} capped while improving**)"
    return [_fmt(row["best_epoch"], 1), _fmt(row["minutes"], 1), stops]


def recommender_section(
    rec: str,
    rows: dict[str, dict[str, Any]],
    reference: dict[str, Any] | None,
    roles: dict[str, str],
    order: list[str],
    published: dict[str, dict[str, Any]],
    plots: set[str],
    paired: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Table of one recommender: methods, the item-id reference and published rows; gains; target;
    the paired bootstrap of each of our methods against the best baseline."""
    g = gains(rows, roles)
    header = ["method", "role", "seeds", *(METRIC_NAMES[m] for m in METRICS), "best epoch", "minutes", "stop"]
    body = []
    for label in [x for x in order if x in rows]:
        r = rows[label]
        cells = [
            f"**{_fmt(r['test'][m])}**" if g["best"][m] == label else _fmt(r["test"][m]) for m in METRICS
        ]
        body.append([label, roles[label], str(r["n"]), *cells, *_run_columns(r)])
    if reference is not None:
        r = reference
        figures = [_fmt(r["test"][m]) for m in METRICS]
        body.append(["SASRec on item ids", "reference", str(r["n"]), *figures, *_run_columns(r)])
    for row in published.values():
        body.append([row["label"], "published", "", *(f"{row['test'][m]:.4f}" for m in METRICS), "", "", ""])
    out = [f"## {REC_NAMES[rec]} (`{rec}`)", "", *_table(header, body), ""]
    if any(g["best"].values()):
        out += [
            "Bold: the best baseline per metric. Relative gain over it:",
            "",
            *_table(
                ["method", *(METRIC_NAMES[m] for m in METRICS)],
                [[label, *(_pct(g["gain"][label][m]) for m in METRICS)] for label in order if label in rows]
                + [["*best baseline*", *(str(g["best"][m]) for m in METRICS)]],
            ),
            "",
        ]
    status = target_status(rows, roles)
    if status:
        out += [status, ""]
    out += paired_lines(paired or [])
    for kind in ("metrics", "curves"):
        name = f"{kind}_{rec}.png"
        if name in plots:
            out.append(f"![{kind} {rec}](plots/{name})")
    return [*out, ""]


def comparisons(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired bootstrap over test users (NDCG@10) of every *ours* method against the best baseline
    (highest mean test NDCG@10) and the baselines of ``paired_against``, per SID recommender;
    stored in results.json as ``paired``."""
    config, cells, _ = current(results)
    methods = results.get("methods", {})
    roles = {label: methods[label]["role"] for label in config.methods if label in methods}
    agg = aggregate(cells)
    out = []
    for rec in config.recommenders:
        if not RECOMMENDERS[rec] or rec not in agg:
            continue
        best = gains(agg[rec], roles)["best"][TARGET["metric"]]
        if best is None:
            continue
        against = [best] + [m for m in config.paired_against if m != best and m in agg[rec]]
        for label in [m for m in config.methods if roles.get(m) == "ours" and m in agg[rec]]:
            mine = [c for c in cells if c["recommender"] == rec and c["method"] == label]
            for baseline in against:
                base = [c for c in cells if c["recommender"] == rec and c["method"] == baseline]
                result = compare_cells(mine, base)
                if result is not None:
                    out.append({"recommender": rec, "method": label, "baseline": baseline, **result})
    return out


def paired_lines(paired: list[dict[str, Any]]) -> list[str]:
    """The paired-bootstrap table of one recommender."""
    if not paired:
        return []
    rows = []
    for p in paired:
        gain = "n/a"
        if p["gain"] is not None:
            gain = f"{p['gain']:+.1%} [{p['gain_ci'][0]:+.1%}, {p['gain_ci'][1]:+.1%}]"
        rows.append(
            [
                p["method"],
                p["baseline"],
                ", ".join(map(str, p["seeds"])),
                f"{p['n_users']:,}",
                f"{p['diff']:+.4f} [{p['diff_ci'][0]:+.4f}, {p['diff_ci'][1]:+.4f}]",
                gain,
                f"{p['p_le_0']:.3f}",
            ]
        )
    return [
        f"Paired bootstrap over test users ({paired[0]['n_boot']} resamples; per-user NDCG@10 averaged over",
        "the seeds both methods have), against the best baseline by mean test NDCG@10 (and any baseline",
        "named in `paired_against`); 95 % intervals:",
        "",
        *_table(["method", "baseline", "seeds", "users", "Δ NDCG@10", "relative gain", "P(Δ <= 0)"], rows),
        "",
    ]


def protocol_lines(config: BenchConfig) -> list[str]:
    """How each recommender's cells were stopped: epoch cap, patience, wall-clock budget (if any)."""
    lines = []
    for name in config.recommenders:
        t = config.train_config(name, 0)
        budget = f"wall-clock budget {t.max_minutes:g} minutes" if t.max_minutes else "no wall-clock budget"
        lines.append(
            f"  - `{name}`: at most {t.epochs} epochs, validation every {t.eval_every}, "
            f"patience {t.patience} evaluations, {budget}"
        )
    out = [
        "- Stopping: early stopping on validation NDCG@10 under an epoch cap; a cell marked *capped while",
        "  improving* ran into the cap with its best epoch inside the last patience window (not converged):",
        *lines,
    ]
    if "tiger" in config.recommenders:
        ties = config.model_config("tiger", 0).rank_ties
        how = {
            "expected": "tie with each other, after every item of the earlier beams",
            "shared": "all take that beam's position (a top-K of beams can hold more than K items; this "
            "over-counts tables with collisions)",
        }[ties]
        out.append(f'- TIGER ranking (`rank_ties = "{ties}"`): the items sharing a decoded SID {how}')
    return out


def intrinsic_section(sids: list[dict[str, Any]], roles: dict[str, str], order: list[str]) -> list[str]:
    """Intrinsic SID metrics per method: collisions, distinct SIDs, per-level utilisation and entropy."""
    by: dict[str, list[dict[str, Any]]] = {}
    for record in sids:
        by.setdefault(record["method"], []).append(record["metrics"])
    if not by:
        return []
    header = ["method", "role", "seeds", *(name for _, name in SID_INTRINSIC)]
    header += ["distinct SIDs", "utilisation per level", "entropy per level", "fit seconds"]
    body = []
    for label in [x for x in order if x in by]:
        ms = by[label]
        row = [label, roles[label], str(len(ms))]
        row += [_fmt(mean_std([m[key] for m in ms]), 3) for key, _ in SID_INTRINSIC]
        row.append(_fmt(mean_std([m["n_unique_sids"] for m in ms]), 0))
        for key in ("utilisation", "entropy"):
            levels = zip(*(m[key] for m in ms), strict=True)
            row.append(" / ".join(f"{statistics.fmean(v):.2f}" for v in levels))
        row.append(_fmt(mean_std([m.get("fit_seconds", 0.0) for m in ms]), 0))
        body.append(row)
    return [
        "## Intrinsic SID metrics",
        "",
        "Collisions count the semantic levels only (the disambiguation token aside): *collision* = share",
        "of items whose SID another item shares; *harmful* = with an item of different content; *benign* =",
        "only with same-content, same-group or missing-content items. Utilisation (share of the K codes",
        "used) and entropy (normalised by log K) are per semantic level.",
        "",
        *_table(header, body),
        "",
    ]


def reference_notes(results: dict[str, Any], config: BenchConfig, cells: list[dict[str, Any]]) -> list[str]:
    """What differs between our harness and the published rows (read from the stored config)."""
    published = results.get("published") or {}
    if not published:
        return []
    emb = config.embedding
    tiger = next((c["model"] for c in cells if c["recommender"] == "tiger"), None)
    sasrec = next((c["model"] for c in cells if c["recommender"].startswith("sasrec")), None)
    sources = sorted({row["source"] for row in published.values()})
    lines = [
        "## Published reference rows",
        "",
        f"Source: {'; '.join(sources)}, measured on the same interaction sequences and leave-one-out",
        "protocol. They are set beside ours, not reproduced by this harness. What differs:",
        "",
        f"- Item content: ours is the dataset's own item text embedded with `{emb.model}` "
        f"(embedding source `{emb.source}`; for amazon-beauty that text is brand + category names). "
        "TIGER built its SIDs from Sentence-T5 embeddings of title, price, brand and category.",
    ]
    if tiger is not None:
        lines.append(
            f"- TIGER size: ours {tiger['num_encoder_layers']}+{tiger['num_decoder_layers']} layers, "
            f"{tiger['num_heads']} heads of {tiger['d_kv']}, d_model {tiger['d_model']}, MLP {tiger['d_ff']} "
            f"({tiger['n_parameters']:,} parameters), user tokens: "
            f"{tiger['user_buckets'] or 'none'}, beam {tiger['beam_size']}; the paper's: 4+4 layers, "
            "6 heads of 64, d_model 128, MLP 1024, 2000 hashed user tokens."
        )
        tv = config.valid_users("tiger")
        if tv:
            lines.append(
                f"- TIGER early stopping here uses a fixed subsample of {tv} validation users per seed."
            )
    if sasrec is not None:
        lines.append(
            f"- SASRec: ours trains with `loss={sasrec['loss']}` ('ce' = full softmax over the catalog), "
            f"hidden {sasrec['hidden']}, {sasrec['layers']} blocks; the paper row is the original SASRec "
            "(binary cross-entropy, one sampled negative)."
        )
    budget = {name: config.train_config(name, 0).max_minutes for name in config.recommenders}
    if any(budget.values()):
        lines.append(
            "- Training budgets (minutes per cell): "
            + ", ".join(f"{k} {v:g}" for k, v in budget.items() if v)
            + "; a cell stopped by its budget reports its best epoch so far (see `stop`)."
        )
    return [*lines, ""]


def provenance_section(results: dict[str, Any]) -> list[str]:
    rows = []
    for s in results["sessions"]:
        commit = (s.get("git_commit") or "n/a")[:10] + (" (dirty)" if s.get("git_dirty") else "")
        rows.append(
            [
                s.get("started", ""),
                s.get("finished") or "(stopped or running)",
                f"quasid {s.get('quasid_version')}",
                commit,
                f"{s.get('cpu')} x{s.get('cpu_count')}"
                + (f" ({s['bf16_matmul_isa']})" if s.get("bf16_matmul_isa") else "")
                + (f", {s['cuda']}" if s.get("cuda") else ""),
                str(s.get("threads")),
                f"torch {s.get('torch')}, Python {s.get('python')}",
            ]
        )
    lines = [
        "## Provenance",
        "",
        "Each invocation on this folder is a session (a resumed bench has several); each cell records",
        "the session that ran it in results.json.",
        "",
        *_table(["started", "finished", "version", "git commit", "machine", "threads", "software"], rows),
        "",
        "Commands:",
        "",
    ]
    lines += [f"    {s.get('command') or '(Python API)'}" for s in results["sessions"]]
    return [*lines, ""]


def render_markdown(results: dict[str, Any], plots: set[str] | None = None) -> str:
    """The whole report as Markdown, from a results.json mapping."""
    plots = plots or set()
    config, cells, sids = current(results)
    methods = results["methods"]
    roles = {label: methods[label]["role"] for label in config.methods if label in methods}
    order = list(config.methods)
    agg = aggregate(cells)
    ds = results.get("dataset", {})
    planned = len(config.cells())
    lines = [
        f"# Bench: {ds.get('name', config.data)}",
        "",
        "Rendered from `results.json` (`quasid bench --render FOLDER`); every figure below is read from",
        "that file. Do not edit by hand.",
        "",
        f"Cells done: {len(cells)} of {planned}"
        + ("." if len(cells) == planned else " (incomplete: the tables cover the cells done so far).")
        + f" SID tables: {len(sids)} of {len(config.sid_plan())}.",
    ]
    stale = len(results["cells"]) - len(cells)
    if stale:
        lines.append(f"Not shown: {stale} cell(s) in results.json from another configuration.")
    lines += ["", "## Setup", ""]
    if "users" in ds:
        lines.append(
            f"- Data: `{config.data}`: {ds['items']:,} items, {ds['users']:,} users, "
            f"{ds['events']:,} events; protocol `{ds['protocol']}` with {ds['valid_cases']:,} validation "
            f"and {ds['test_cases']:,} test cases, ranked against the whole catalog."
        )
    else:
        lines.append(
            f"- Data: `{config.data}`: {ds.get('items', 0):,} items (no recommenders: intrinsic only)."
        )
    described = []
    for label in order:
        spec = methods.get(label, {})
        what = (
            spec.get("source", "?") if spec.get("path") is None else f"{spec['source']} file `{spec['path']}`"
        )
        described.append(f"{label} ({roles.get(label, '?')}; {what})")
    lines += [
        f"- Methods: {', '.join(described) or 'none'}. Baselines: every method but QuaSID and its ablations.",
        f"- Seeds: {', '.join(map(str, config.seeds))}. A seed fits the tokenizers and initialises and "
        "shuffles the recommenders;",
        "  peer SID files are the same for every seed, and their authors built them from their own item",
        "  content, not from the embeddings below.",
        f"- Item content: embeddings `{config.embedding.source}` / `{config.embedding.model}`"
        + ("" if config.embedding.pooling == "joined" else f", fields pooled `{config.embedding.pooling}`")
        + " (as `quasid fit` computes them; text vectors are cached on disk).",
    ]
    if config.recommenders:
        lines += [
            "- Figures: test metrics at the epoch of best validation NDCG@10, mean ± sample std over seeds",
            "  (a single seed shows its value alone);",
            "  `stop` says what ended training (epoch cap, patience, or the time budget).",
            *protocol_lines(config),
        ]
    lines.append("")
    # the bench stores them at every save and merge; older folders get them computed here
    compared = results["paired"] if "paired" in results else comparisons(results)
    for rec in config.recommenders:
        if not RECOMMENDERS[rec] or rec not in agg:
            continue
        pub = results.get("published") or {}
        pub_rows = {"tiger": pub["tiger"]} if rec == "tiger" and "tiger" in pub else {}
        if "sasrec" in pub:
            pub_rows["sasrec"] = pub["sasrec"]
        reference = agg.get("sasrec_id", {}).get(ID_ROW)
        paired = [p for p in compared if p["recommender"] == rec]
        lines += recommender_section(rec, agg[rec], reference, roles, order, pub_rows, plots, paired)
    if "sasrec_id" in agg and not any(RECOMMENDERS[r] and r in agg for r in config.recommenders):
        lines += recommender_section(
            "sasrec_id", agg["sasrec_id"], None, {ID_ROW: "reference"}, [ID_ROW], {}, plots
        )
    lines += intrinsic_section(sids, roles, order)
    if "sid_levels.png" in plots:
        lines += ["![SID collisions and codebook use per level](plots/sid_levels.png)", ""]
    lines += reference_notes(results, config, cells)
    lines += provenance_section(results)
    lines += [
        "## Config",
        "",
        "Re-run (or resume) with `quasid bench -c config.toml -o FOLDER` after saving this as config.toml:",
        "",
        "```toml",
        tomli_w.dumps(_prune(results["config"])).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _prune(obj: Any) -> Any:
    """Without None values and empty tables (TOML has no null; empty tables are noise)."""
    if isinstance(obj, dict):
        pruned = {k: _prune(v) for k, v in obj.items() if v is not None}
        return {k: v for k, v in pruned.items() if v != {}}
    return obj


def load_results(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "results.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{folder} holds no results.json: is it a `quasid bench` report folder?") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc})") from None


def render(folder: str | Path, plots: bool = True) -> Path:
    """Write ``report.md`` (and ``plots/*.png`` when ``plots``) in a bench folder from its results.json."""
    folder = Path(folder)
    results = load_results(folder)
    drawn: set[str] = set()
    if plots:
        drawn = {p.name for p in draw_all(results, folder / "plots")}
    else:
        drawn = {p.name for p in (folder / "plots").glob("*.png")} if (folder / "plots").is_dir() else set()
    path = folder / "report.md"
    with atomic_open(path) as fh:
        fh.write(render_markdown(results, drawn))
    return path
