"""The audit folder: report.md (with plots), audit.json, and collisions.parquet with every colliding item.

report.md names every harmful collision group worst first (up to ``max_groups``; the rest, and
every benign group, are one line each, and collisions.parquet holds all of them item by item),
then code use, behaviour alignment and, with a second table, what changed. Every figure in it
is read from the same summary that audit.json stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quasid.audit.collect import SIDAudit
from quasid.audit.neighbours import hamming_neighbours
from quasid.io import atomic_open, atomic_path, write_json

#: Harmful groups listed in full (items, text, neighbours, reason) before the rest go one line each.
MAX_GROUPS = 200
#: Groups (harmful beyond the full listings, and benign) given one line each; the rest are counted,
#: and collisions.parquet has every one (a 10M-item catalog has millions of groups).
MAX_LINES = 5000
#: Characters of item text quoted per item.
SNIPPET = 80
#: Items listed per group, and neighbours named per level.
MAX_ITEMS = 12
NEIGHBOURS = 3
#: Rows of collisions.parquet written per batch (the file is streamed, never built whole).
PARQUET_BATCH = 1 << 20


def write_audit(
    audit: SIDAudit, folder: str | Path, max_groups: int = MAX_GROUPS, plots: bool = True
) -> Path:
    """Write report.md, audit.json, collisions.parquet (and plots/*.png) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_collisions(audit, folder / "collisions.parquet")
    listed = harmful_listing(audit, max_groups)
    summary = {**audit.summary, "harmful_listed": listed}
    write_json(folder / "audit.json", summary)
    drawn: list[str] = []
    if plots:
        from quasid.audit.plots import draw_audit

        drawn = [p.name for p in draw_audit(summary, audit.groups, folder / "plots")]
    path = folder / "report.md"
    with atomic_open(path) as fh:
        fh.write(render_markdown(audit, listed, drawn))
    return path


def write_collisions(audit: SIDAudit, path: Path) -> None:
    """One row per colliding item, groups worst first: rank, codes, item id, harmful pairs, benign rule."""
    groups = audit.groups
    assert groups is not None
    levels = [(f"sid_{lv}", pa.int32()) for lv in range(audit.codes.shape[1])]
    schema = pa.schema(
        [
            ("group", pa.int64()),
            *levels,
            ("item_id", pa.string()),
            ("group_size", pa.int64()),
            ("harmful_pairs", pa.int64()),
            ("qualified_by", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    rank = np.repeat(np.arange(groups.n_groups), groups.sizes)
    rules, rule_of_group = np.unique(groups.qualified_by.astype(str), return_inverse=True)
    rule_names = pa.array(rules.tolist(), pa.string())
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for lo in range(0, max(len(groups.members), 1), PARQUET_BATCH):
            rows = groups.members[lo : lo + PARQUET_BATCH]
            g = rank[lo : lo + PARQUET_BATCH]
            sid = audit.codes[rows].astype(np.int32)
            batch = pa.record_batch(
                [
                    pa.array(g, pa.int64()),
                    *(pa.array(sid[:, lv]) for lv in range(sid.shape[1])),
                    pa.array(audit.catalog.item_ids[rows], pa.string()),
                    pa.array(groups.sizes[g], pa.int64()),
                    pa.array(groups.harmful_pairs[g], pa.int64()),
                    pa.DictionaryArray.from_arrays(pa.array(rule_of_group[g].astype(np.int32)), rule_names),
                ],
                schema=schema,
            )
            writer.write_batch(batch)


def harmful_listing(audit: SIDAudit, max_groups: int) -> list[dict[str, Any]]:
    """The worst ``max_groups`` harmful groups in full: items with text, Hamming neighbours, the reason."""
    groups = audit.groups
    assert groups is not None
    n = min(groups.n_harmful, max_groups)
    if n == 0:
        return []
    first = [int(groups.items(g)[0]) for g in range(n)]
    neighbours = hamming_neighbours(audit.codes, audit.radices, first, NEIGHBOURS)
    ids = audit.catalog.item_ids
    out = []
    for g in range(n):
        rows = groups.items(g)
        near = neighbours[g]
        out.append(
            {
                "rank": g,
                "sid": audit.codes[rows[0]].tolist(),
                "size": int(groups.sizes[g]),
                "harmful_pairs": int(groups.harmful_pairs[g]),
                "why": groups.why_harmful(g, audit.rules),
                "items": [{"item_id": str(ids[r]), "text": snippet(audit, int(r))} for r in rows[:MAX_ITEMS]],
                "neighbours": [
                    {"level": x["level"], "items": x["items"], "item_ids": [str(ids[r]) for r in x["rows"]]}
                    for x in near
                ],
            }
        )
    return out


def snippet(audit: SIDAudit, row: int) -> str:
    """The start of an item's content text (its attribute names where it has no text)."""
    catalog = audit.catalog
    text = catalog.texts[row] if catalog.texts is not None else ""
    if not text and catalog.attributes is not None:
        text = ", ".join(catalog.attribute_names.get(a, str(a)) for a in catalog.attributes[row])
    text = " ".join(str(text).split())
    if not text:
        return "(no content)"
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


# --- Markdown --------------------------------------------------------------------------------
def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _sid(codes: list[int]) -> str:
    return "-".join(map(str, codes))


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def render_markdown(audit: SIDAudit, listed: list[dict[str, Any]], plots: list[str]) -> str:
    """The whole report.md."""
    s = audit.summary
    m = s["metrics"]
    lines = [
        f"# SID audit: {s['catalog']}",
        "",
        f"{m['n_items']:,} items, {m['semantic_levels']} semantic levels, K = "
        f"{'/'.join(map(str, m['codebook_size']))}; {m['n_unique_sids']:,} distinct SIDs. "
        f"Colliding items {_pct(m['collision_rate'])}: harmful {_pct(m['harmful_collision_rate'])} "
        f"({m['harmful_pairs']:,} pairs), benign only {_pct(m['benign_collision_rate'])} "
        f"({m['benign_pairs']:,} pairs). `collisions.parquet` lists every colliding item by group.",
        "",
    ]
    lines += _harmful_section(audit, listed, plots)
    lines += _benign_section(audit)
    lines += _usage_section(s, plots)
    lines += _alignment_section(s, plots)
    lines += _comparison_section(s)
    return "\n".join(lines) + "\n"


def _harmful_section(audit: SIDAudit, listed: list[dict[str, Any]], plots: list[str]) -> list[str]:
    groups = audit.groups
    assert groups is not None
    c = audit.summary["collisions"]
    out = [
        "## Harmful collisions",
        "",
        f"{c['harmful_groups']:,} harmful groups (a pair in each that no benign rule links), worst first: "
        "most harmful pairs, then size. *why* says which rule did not fire: how many classes each rule "
        "splits the group into (one class would have made it benign). *neighbours*: items one code "
        "away from the group's SID, per level.",
        "",
    ]
    if "collision_groups.png" in plots:
        out += ["![collision groups](plots/collision_groups.png)", ""]
    for entry in listed:
        out.append(
            f"### {entry['rank'] + 1}. SID {_sid(entry['sid'])}: {entry['size']} items, "
            f"{entry['harmful_pairs']} harmful pairs"
        )
        out += ["", f"why: {entry['why']}", ""]
        out += ["| item | text |", "|---|---|"]
        out += [f"| {_cell(it['item_id'])} | {_cell(it['text'])} |" for it in entry["items"]]
        if entry["size"] > len(entry["items"]):
            out.append(f"| … | {entry['size'] - len(entry['items'])} more in collisions.parquet |")
        near = "; ".join(
            f"level {x['level'] + 1}: {x['items']}"
            + (f" (e.g. {', '.join(x['item_ids'])})" if x["item_ids"] else "")
            for x in entry["neighbours"]
        )
        out += ["", f"neighbours: {near}", ""]
    rest = range(len(listed), groups.n_harmful)
    if len(rest):
        out += [f"The other {len(rest):,} harmful groups, one line each (SID: items; why):", ""]
        for g in rest[:MAX_LINES]:
            rows = groups.items(g)
            ids = ", ".join(str(i) for i in audit.catalog.item_ids[rows[:MAX_ITEMS]])
            more = f" +{len(rows) - MAX_ITEMS}" if len(rows) > MAX_ITEMS else ""
            out.append(
                f"- {_sid(audit.codes[rows[0]].tolist())}: {ids}{more}; {groups.why_harmful(g, audit.rules)}"
            )
        if len(rest) > MAX_LINES:
            out.append(f"- … {len(rest) - MAX_LINES:,} more in collisions.parquet")
        out.append("")
    return out


def _benign_section(audit: SIDAudit) -> list[str]:
    groups = audit.groups
    assert groups is not None
    c = audit.summary["collisions"]
    by_rule = ", ".join(f"{rule} {k:,}" for rule, k in c["benign_groups_by_rule"].items()) or "none"
    out = [
        "## Benign collisions",
        "",
        f"{c['benign_groups']:,} benign groups (every pair linked by a rule), by the rule that qualified "
        f"them: {by_rule}. *mixed*: no single rule holds the group, their union links every pair.",
        "",
    ]
    benign = np.flatnonzero(groups.harmful_pairs == 0)
    for g in benign[:MAX_LINES]:
        rows = groups.items(int(g))
        ids = ", ".join(str(i) for i in audit.catalog.item_ids[rows[:MAX_ITEMS]])
        more = f" +{len(rows) - MAX_ITEMS}" if len(rows) > MAX_ITEMS else ""
        out.append(f"- {_sid(audit.codes[rows[0]].tolist())}: {ids}{more} ({groups.qualified_by[g]})")
    if len(benign) > MAX_LINES:
        out.append(f"- … {len(benign) - MAX_LINES:,} more in collisions.parquet")
    return [*out, ""]


def _usage_section(s: dict[str, Any], plots: list[str]) -> list[str]:
    m = s["metrics"]
    out = ["## Code use", "", "| level | codes used | utilisation | entropy / log K | distinct prefixes |"]
    out.append("|---:|---:|---:|---:|---:|")
    for lv in range(m["n_levels"]):
        out.append(
            f"| {lv + 1} | {m['codes_used'][lv]:,} | {m['utilisation'][lv]:.3f} | {m['entropy'][lv]:.3f} "
            f"| {m['distinct_prefixes'][lv]:,} |"
        )
    out += ["", "Prefix fan-out (distinct next codes per prefix):", ""]
    out += [
        "| depth | prefixes | mean | median | max | single-child share |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f in s["fan_out"]:
        out.append(
            f"| {f['depth']} | {f['prefixes']:,} | {f['mean_children']:.2f} | {f['median_children']:.0f} "
            f"| {f['max_children']} | {_pct(f['single_child_share'], 1)} |"
        )
    pop = s["popularity"]
    if pop is None:
        out += ["", "Popularity allocation: the dataset has no interactions."]
    else:
        out += [
            "",
            f"Popularity allocation: the most popular 10 % ({pop['head_items']:,} items, "
            f"{_pct(pop['head_event_share'], 1)} of training events) against a random 10 % "
            "(mean of 5 draws).",
            "",
            "| depth | head prefixes | random prefixes | ratio | head codes at this level | random codes |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for d in range(len(pop["head_prefixes"])):
            out.append(
                f"| {d + 1} | {pop['head_prefixes'][d]:,} | {pop['random_prefixes'][d]:,.1f} "
                f"| {pop['head_prefix_ratio'][d]:.3f} | {pop['head_codes'][d]:,} "
                f"| {pop['random_codes'][d]:,.1f} |"
            )
    if "code_use.png" in plots:
        out += ["", "![code use](plots/code_use.png)"]
    return [*out, ""]


def _alignment_section(s: dict[str, Any], plots: list[str]) -> list[str]:
    a = s["alignment"]
    out = ["## Behaviour alignment", ""]
    if a is None:
        return [*out, "The dataset has no interactions: no co-occurring pairs to align with.", ""]
    out += [
        f"{a['pairs']:,} co-occurring pairs (consecutive items of a user's training sequence). Share of "
        "them whose SIDs share the first d codes, against random item pairs and random pairs drawn with "
        "the same item popularity; lift = share / popularity baseline.",
        "",
    ]
    cat = a["category_control"]
    head = "| depth | co-occurring pairs | random pairs | popularity-matched | lift |"
    out += [
        head + (" category prefix | category, random pairs |" if cat else ""),
        "|---:|---:|---:|---:|---:|",
    ]
    out[-1] += "---:|---:|" if cat else ""
    for i, d in enumerate(a["depth"]):
        lift = a["lift"][i]
        row = (
            f"| {d} | {_pct(a['shared'][i])} | {_pct(a['random_pairs'][i], 3)} "
            f"| {_pct(a['popularity_pairs'][i], 3)} | {'n/a' if lift is None else f'{lift:.1f}x'} |"
        )
        if cat:
            row += f" {_pct(cat['shared'][i])} | {_pct(cat['random_pairs'][i], 3)} |"
        out.append(row)
    if not cat:
        out += ["", "No category control: the catalog has no `categories` text field."]
    if "alignment.png" in plots:
        out += ["", "![behaviour alignment](plots/alignment.png)"]
    return [*out, ""]


def _comparison_section(s: dict[str, Any]) -> list[str]:
    c = s["comparison"]
    if c is None:
        return []
    out = [
        "## Comparison with the --against table",
        "",
        f"{c['common_items']:,} items in both tables ({c['only_here']:,} only here, "
        f"{c['only_there']:,} only there); {c['changed_items']:,} changed their SID "
        f"({_pct(c['changed_share'])}). First level changed: "
        + ", ".join(f"level {lv + 1}: {k:,}" for lv, k in enumerate(c["first_changed_level"]))
        + ".",
        "",
    ]
    if c["changed"]:
        out += ["| item | first changed level | SID here | SID there |", "|---|---:|---|---|"]
        for x in c["changed"][:MAX_LINES]:
            out.append(
                f"| {_cell(x['item_id'])} | {x['level'] + 1} | {_sid(x['sid'])} | {_sid(x['against'])} |"
            )
        if c["changed_items"] > min(len(c["changed"]), MAX_LINES):
            out.append(f"| … | | {c['changed_items'] - min(len(c['changed']), MAX_LINES):,} more | |")
    return [*out, ""]
