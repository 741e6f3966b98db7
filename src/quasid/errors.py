"""Errors quasid raises at its boundaries.

Every error a user can cause (bad file, bad parameter, bad embedding) is a
``QuasidError`` subclass whose message names the file / field / item and says
what to do. The CLI prints these as one line and exits non-zero; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


class QuasidError(Exception):
    """Base class of user-facing errors (bad input, bad configuration)."""


class DataError(QuasidError, ValueError):
    """A data file or in-memory dataset is malformed or inconsistent."""


class ConfigError(QuasidError, ValueError):
    """A parameter or configuration value is out of range or inconsistent."""


class NotFittedError(QuasidError, RuntimeError):
    """A tokenizer was used before ``fit`` (or ``load``)."""


# --- the error catalogue -------------------------------------------------------------------
# One entry per kind of bad input a user can hit. ``pattern`` is a regular expression that the
# message of every such error matches (tests/test_bad_inputs.py triggers each entry and checks
# it), so the catalogue cannot drift from the raise sites; docs/errors.md is rendered from it.


@dataclass(frozen=True)
class CatalogueEntry:
    """A kind of user error: how its message reads, and what to do about it."""

    code: str  # stable slug, also the anchor in docs/errors.md
    kind: type[QuasidError]
    title: str
    pattern: str  # regex every message of this kind matches
    fix: str

    def matches(self, message: str) -> bool:
        return re.search(self.pattern, message) is not None


def _entry(code: str, kind: type[QuasidError], title: str, pattern: str, fix: str) -> CatalogueEntry:
    return CatalogueEntry(code, kind, title, pattern, fix)


CATALOGUE: tuple[CatalogueEntry, ...] = (
    # --- files and formats
    _entry(
        "missing-file",
        QuasidError,
        "A dataset, file or run folder is not where it was expected",
        r"no such file or folder|required .* file is missing|does not exist",
        "Check the path; bare dataset names are looked up under `$QUASID_DATA`.",
    ),
    _entry(
        "unknown-format",
        DataError,
        "The dataset layout is not recognised",
        r"cannot tell the dataset format",
        "Use one of the layouts in the README (S3-Rec, LC-Rec, RecBole, Parquet/CSV) or pass `format=`.",
    ),
    _entry(
        "non-utf8",
        DataError,
        "A text file is not UTF-8",
        r"not valid UTF-8 at byte offset \d+ \(line \d+",
        "Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in > out`.",
    ),
    _entry(
        "malformed-json",
        DataError,
        "A JSON file does not parse",
        r":\d+:\d+: malformed JSON",
        "Open the file at the line:column given; `python -m json.tool FILE` shows the same place.",
    ),
    _entry(
        "malformed-table",
        DataError,
        "A Parquet or CSV file cannot be read",
        r"cannot be read as the|not a readable Parquet|not a readable \.npy|is an \.npz archive",
        "Re-export the file; for CSV check the header and that every row has the same number of fields.",
    ),
    _entry(
        "empty-file",
        DataError,
        "A file has no data",
        r"file is empty|but no rows|holds no (users|data)",
        "Point at the file that holds the data, or regenerate it.",
    ),
    _entry(
        "malformed-record",
        DataError,
        "A line, field or record has the wrong shape or type",
        r"not an integer|tab-separated fields|expected (a|an) (JSON )?(list|object)|not a number|must hold"
        r"|holds .* not numbers|time column .* has type|is empty at row",
        "Fix the line or record named in the message (file:line where the format has lines).",
    ),
    _entry(
        "missing-column",
        DataError,
        "A required column is missing",
        r"required column '[^']+' is missing",
        "Rename the column, or pass its name (`item_col=`, `user_col=`, `time_col=`, ...).",
    ),
    # --- ids
    _entry(
        "duplicate-item-id",
        DataError,
        "An item id appears twice",
        r"duplicate item id|item id .* appears twice",
        "Every item id must be unique: drop or merge the repeated rows.",
    ),
    _entry(
        "duplicate-key",
        DataError,
        "A JSON object repeats a key (an item, user or field)",
        r"duplicate key\(s\)|already has a line",
        "JSON would silently keep only the last one: merge or remove the repeats.",
    ),
    _entry(
        "unknown-item",
        DataError,
        "Interactions name items that are not in the catalog",
        r"item id\(s\) are not in|item indices .* outside the catalog",
        "Add the items to the item file, or drop the interactions that name them.",
    ),
    _entry(
        "empty-catalog",
        DataError,
        "The catalog has no items",
        r"catalog would be empty|is empty: it needs at least one item|holds no items",
        "Give at least one item (and more items than codes per level).",
    ),
    _entry(
        "too-few-events",
        DataError,
        "Users have too few events for the split",
        r"fewer than \d+ events|no user has at least \d+ events|has no test case",
        "Filter short users out first, lower `min_events`, or pass `on_short='drop'`.",
    ),
    # --- embeddings
    _entry(
        "nan-embeddings",
        DataError,
        "Embeddings contain NaN or inf",
        r"contain NaN or inf",
        "Fix the feature pipeline, or set those rows to zeros to mark the items as missing content.",
    ),
    _entry(
        "embedding-shape",
        DataError,
        "The embedding matrix does not fit the catalog",
        r"embeddings have \d+ rows but there are \d+ items|2-D \[n_items, dim\]|ragged|dimension 0",
        "Give exactly one row per item, in catalog order (as `quasid embed` writes them).",
    ),
    _entry(
        "dimension-mismatch",
        DataError,
        "Embeddings differ in dimension from those the tokenizer was trained on",
        r"tokenizer was fitted on dimension \d+",
        "Embed with the same model (and `attribute_dim`) as at fit time, or fit a new tokenizer.",
    ),
    _entry(
        "no-content",
        DataError,
        "Items have nothing to build content vectors from",
        r"has no embeddings|no embeddings, text or attributes",
        "Run `quasid embed`, pass `--embeddings FILE.npy`, or give the items text or attributes.",
    ),
    # --- parameters
    _entry(
        "levels-or-codebook-range",
        ConfigError,
        "L (levels) or K (codebook size) out of range",
        r"(n_levels|codebook_size) must be in \[",
        "Use 1 <= L <= 16 and 2 <= K <= 65536 (`-L`, `-K`).",
    ),
    _entry(
        "codebook-too-large",
        ConfigError,
        "K is larger than the number of items",
        r"codebook_size=\d+ is larger than the catalog",
        "Use a codebook size at most the number of items (the message suggests one).",
    ),
    _entry(
        "parameter-range",
        ConfigError,
        "Another parameter is out of range",
        r"must be >= |must be > 0|must be in \(|must be positive|must be one of|but CUDA is not"
        r"|needs at least \d+ events per user",
        "Set the named parameter within the range the message gives.",
    ),
    _entry(
        "unknown-name",
        ConfigError,
        "Unknown method, parameter or config key",
        r"unknown (method|config key|\w+ parameter|dataset format)",
        "Check the spelling against the valid names the message lists.",
    ),
    _entry(
        "invalid-config",
        ConfigError,
        "A config file or `--set` value does not parse",
        r"not valid TOML|expects key=value|is not a section|must be key=number|no data given",
        "Fix the TOML (section.key = value) or the `--set section.key=value` argument.",
    ),
    # --- run folders
    _entry(
        "run-folder-state",
        QuasidError,
        "The run folder is finished, unfinished or not a run",
        r"already holds a finished run|not a finished quasid run|cannot resume|--resume",
        "Finished runs need `--overwrite`; killed runs continue with `quasid fit --resume RUN_DIR`.",
    ),
    _entry(
        "unreadable-model",
        DataError,
        "A tokenizer or checkpoint file is corrupt or from another run",
        r"not a readable quasid|written with a different|trained on other data",
        "Re-run `quasid fit` (with `--overwrite`), or point at the right run folder.",
    ),
)


def lookup(message: str) -> CatalogueEntry | None:
    """The first catalogue entry whose pattern the message matches."""
    return next((e for e in CATALOGUE if e.matches(message)), None)


def render_markdown() -> str:
    """docs/errors.md: the catalogue as a table (tests check the committed file equals this)."""
    lines = [
        "# Errors and what to do",
        "",
        "<!-- generated by `python -m quasid.errors` from quasid.errors.CATALOGUE: do not edit -->",
        "",
        "Every error a user can cause (a bad file, id, embedding or parameter) is a",
        "`quasid.errors.DataError` or `ConfigError` whose message names the file, field",
        "or item and says what to do. The CLI prints it as one line starting with",
        "`error:` and exits with status 2; `quasid --debug ...` shows the traceback.",
        "A killed `quasid fit` leaves no `run.json`: continue it with",
        "`quasid fit --resume RUN_DIR`.",
        "",
        "| Code | Error | Message matches (regex) | What to do |",
        "|---|---|---|---|",
    ]
    for e in CATALOGUE:
        pattern = e.pattern.replace("|", r"\|")
        lines.append(f"| `{e.code}` | {e.title} ({e.kind.__name__}) | `{pattern}` | {e.fix} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m quasid.errors [PATH]``: write the errors page (default docs/errors.md)."""
    import sys

    from quasid.io import atomic_open

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("docs") / "errors.md"
    with atomic_open(path) as fh:
        fh.write(render_markdown())
    print(f"wrote {len(CATALOGUE)} entries to {path}")


if __name__ == "__main__":
    main()
