"""Errors quasid raises at its boundaries.

Every error a user can cause (bad file, bad parameter, bad embedding) is a
``QuasidError`` subclass whose message names the file / field / item and says
what to do. The CLI prints these as one line and exits non-zero; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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


class UsageError(ConfigError):
    """The command line is wrong (unknown option or command, a value of the wrong type, a missing argument).

    The CLI raises it from the usage errors of whichever click its typer runs on, so they print
    like every other user error.
    """


class DataWarning(DataError, UserWarning):  # noqa: N818 - a warning; an error only when strict
    """A reader fell back instead of failing (an item without content, a repeated event).

    Issued with ``warnings.warn``: one warning per kind of fallback, with the count and an example
    id. Under ``strict_data()`` (the CLI's ``--strict``) it is raised instead, as the DataError it is.
    """


@contextmanager
def strict_data() -> Iterator[None]:
    """Within the block every reader fallback (``DataWarning``) raises instead of warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        yield


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
        r"unknown (method|(bench )?config key|\w+ parameter|dataset format)",
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


#: Errors in how quasid is called: the command line (raised as ``UsageError`` by the CLI, from click's
#: own usage errors) and config values of the wrong type. tests/test_console.py and
#: tests/test_config_types.py trigger every entry through the installed ``quasid`` script.
USAGE: tuple[CatalogueEntry, ...] = (
    _entry(
        "unknown-option",
        UsageError,
        "A command is given an option it does not have",
        r"^no such option \S+ for `quasid|^quasid bench: unknown option",
        "Check the spelling against `quasid COMMAND --help`; `--debug` and `--strict` go before the "
        "command (`quasid --strict fit ...`).",
    ),
    _entry(
        "unknown-command",
        UsageError,
        "The command is misspelt or does not exist",
        r"^No such command",
        "Use one of the commands the message lists (`quasid --help`).",
    ),
    _entry(
        "bad-option-value",
        UsageError,
        "An option or argument has a value of the wrong type",
        r"^Invalid value for ",
        "Give the value in the type the message names (`quasid COMMAND --help` shows each option's type).",
    ),
    _entry(
        "missing-argument",
        UsageError,
        "A required argument or option is missing",
        r"^Missing (argument|option|parameter)",
        "Add it; the message gives the command's usage line.",
    ),
    _entry(
        "bad-usage",
        UsageError,
        "An option lacks its value, or the command got arguments it does not take",
        r"requires an argument|does not take a value|unexpected extra argument|Missing command",
        "Follow the usage line in the message (`quasid COMMAND --help`).",
    ),
    _entry(
        "config-value-type",
        ConfigError,
        "A `--set` or TOML config value has the wrong type",
        r"has the wrong type \(",
        "Give the key a value of the type the message names; text in `--set` needs TOML quotes only "
        "when it could be read as a number or boolean (`--set 'data=\"2024\"'`).",
    ),
)

#: Where a reader falls back instead of failing: each prints one ``warning:`` line (a ``DataWarning``)
#: with the count and an example id, and is an error under ``quasid --strict`` (tests/test_strict.py).
FALLBACKS: tuple[CatalogueEntry, ...] = (
    _entry(
        "unlisted-items",
        DataWarning,
        "Sequences name items that the attribute file lacks (they become missing-content items)",
        r"item id\(s\) in the sequences have no entry in",
        "Add the items to the attribute file, or drop their events.",
    ),
    _entry(
        "items-without-content",
        DataWarning,
        "Items have no attributes or no text (they become missing-content items)",
        r"item\(s\) have no (attributes|text)",
        "Give the items attributes or text, or give every item a vector with `--embeddings FILE.npy`.",
    ),
    _entry(
        "repeated-events",
        DataWarning,
        "Events repeat an earlier one exactly (same user, item and time); both are kept",
        r"event\(s\) repeat an earlier one",
        "Drop the repeats if they are logging errors; keep them if they are real repeat interactions.",
    ),
)


def lookup(message: str) -> CatalogueEntry | None:
    """The first entry (catalogue, then usage errors, then fallbacks) whose pattern the message matches."""
    return next((e for e in (*CATALOGUE, *USAGE, *FALLBACKS) if e.matches(message)), None)


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
    ]
    lines += _table(CATALOGUE)
    lines += [
        "",
        "## Usage errors",
        "",
        "A wrong command line (an unknown option or command, an option value of the wrong type,",
        "a missing argument) and a `--set` / TOML value of the wrong type are one `error:` line",
        "too, naming the option, key or value and what it takes, with exit status 2.",
        "",
        *_table(USAGE),
        "",
        "## Fallbacks: warnings, errors under `--strict`",
        "",
        "Where a reader can go on with a sensible default it does, and prints one `warning:` line",
        "per kind of fallback with the count and an example id. `quasid --strict COMMAND ...` (or",
        "`QUASID_STRICT=1`; in Python, `with quasid.errors.strict_data():`) makes each an error.",
        "",
        *_table(FALLBACKS),
    ]
    return "\n".join(lines) + "\n"


def _table(entries: tuple[CatalogueEntry, ...]) -> list[str]:
    lines = ["| Code | Error | Message matches (regex) | What to do |", "|---|---|---|---|"]
    for e in entries:
        pattern = e.pattern.replace("|", r"\|")
        lines.append(f"| `{e.code}` | {e.title} ({e.kind.__name__}) | `{pattern}` | {e.fix} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    """``python -m quasid.errors [PATH]``: write the errors page (default docs/errors.md)."""
    import sys

    from quasid.io import atomic_open

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("docs") / "errors.md"
    with atomic_open(path) as fh:
        fh.write(render_markdown())
    print(f"wrote {len(CATALOGUE) + len(USAGE) + len(FALLBACKS)} entries to {path}")


if __name__ == "__main__":
    main()
