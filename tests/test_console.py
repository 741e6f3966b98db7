"""Usage errors through the installed ``quasid`` console script, in a subprocess, as users run it.

CliRunner and in-process ``main()`` calls catch what the real script does not (a typer that
vendors its own click let every usage error out as a traceback while the in-process tests
passed), so each kind of usage error is run here on every verb, enumerated from the Typer app
itself: a verb added later is covered without touching this file. Each must print one
``error:`` line that names the option / command / key and matches its catalogue entry
(``quasid.errors.USAGE``), exit 2, and show no traceback; ``--debug`` still shows it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from quasid.cli import app
from quasid.errors import USAGE, lookup

#: The console script of the interpreter running the tests (the .venv's), else the one on PATH.
QUASID = shutil.which("quasid", path=str(Path(sys.executable).parent)) or shutil.which("quasid")
ROOT_GROUP = typer.main.get_command(app)
VERBS: dict[str, typing.Any] = dict(ROOT_GROUP.commands)  # type: ignore[attr-defined]


def quasid(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    assert QUASID is not None, "the quasid console script is not installed (pip install -e .)"
    return subprocess.run(
        [QUASID, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80", **(env or {})},
    )


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The message of a run that must have failed with exactly one ``error:`` line and status 2."""
    err = done.stderr
    assert done.returncode == 2, (done.returncode, err)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0].removeprefix("error: ")


# ------------------------------------------------------------------ what the app declares


def _hints(verb: str) -> dict[str, typing.Any]:
    """Parameter name -> declared Python type of the verb's callback (Annotated and Optional removed)."""
    callback = next(c.callback for c in app.registered_commands if (c.name or c.callback.__name__) == verb)
    out = {}
    for name, hint in typing.get_type_hints(callback).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[name] = (
            args[0] if typing.get_origin(hint) in (typing.Union, __import__("types").UnionType) else hint
        )
    return out


def _required_args(verb: str) -> list[str]:
    """Placeholder values for the verb's required arguments and options, so parsing reaches the rest."""
    out: list[str] = []
    for param in VERBS[verb].params:
        if param.required:
            out += ["x"] if param.param_type_name == "argument" else [param.opts[0], "x"]
    return out


def _numeric_option(verb: str) -> str | None:
    """The first option of the verb that takes an integer or a number."""
    hints = _hints(verb)
    for param in VERBS[verb].params:
        if param.param_type_name == "option" and hints.get(param.name) in (int, float):
            return param.opts[0]
    return None


def _takes_extra_options(verb: str) -> bool:
    return bool(VERBS[verb].context_settings.get("ignore_unknown_options"))


def _has_set(verb: str) -> bool:
    return any("--set" in p.opts for p in VERBS[verb].params)


#: A typed top-level key of each verb that takes --set, and the type its error must name.
SET_TYPED_KEY = {"fit": ("seed", "integer"), "bench": ("cold_frac", "number")}


def _typo(verb: str) -> str:
    return verb[:-1] if len(verb) > 3 else verb + "x"


# ------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    """One wrong command line: the catalogue code its message must match and what it must name."""

    code: str | None  # None: a verb's own one-line error outside the usage catalogue (bench's list options)
    args: tuple[str, ...]
    names: tuple[str, ...]


def _cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for verb in VERBS:
        code = None if _takes_extra_options(verb) else "unknown-option"
        cases[f"{verb}:unknown-option"] = Case(code, (verb, "--no-such-option"), ("--no-such-option",))
        cases[f"{verb}:unknown-command"] = Case("unknown-command", (_typo(verb),), (_typo(verb), verb))
        option = _numeric_option(verb)
        if option is not None:
            args = (verb, *_required_args(verb), option, "many")
            cases[f"{verb}:wrong-type"] = Case("bad-option-value", args, (option,))
        if _required_args(verb):
            first = next(p for p in VERBS[verb].params if p.required)
            cases[f"{verb}:missing-argument"] = Case("missing-argument", (verb,), (first.name,))
        if _has_set(verb):
            out = ("-o", "never-written")
            cases[f"{verb}:set-unknown-key"] = Case(
                "unknown-name", (verb, "synthetic", *out, "--set", "no_such_key=1"), ("no_such_key",)
            )
            key, kind = SET_TYPED_KEY[verb]
            cases[f"{verb}:set-wrong-type"] = Case(
                "config-value-type", (verb, "synthetic", *out, "--set", f"{key}=abc"), (key, "'abc'", kind)
            )
            cases[f"{verb}:set-without-value"] = Case("bad-usage", (verb, "synthetic", "--set"), ("--set",))
    cases["evaluate:extra-argument"] = Case(
        "bad-usage", ("evaluate", "a.parquet", "b.parquet"), ("b.parquet",)
    )
    cases["fit:set-tokenizer-type"] = Case(
        "config-value-type",
        ("fit", "synthetic", "-m", "rqvae", "--set", "tokenizer.lr=abc"),
        ("tokenizer.lr", "'abc'", "number"),
    )
    cases["fit:debug-after-the-verb"] = Case(
        "unknown-option", ("fit", "synthetic", "--debug"), ("quasid --debug fit",)
    )
    return cases


CASES = _cases()


def test_the_app_has_the_verbs_the_cases_cover() -> None:
    assert {"fit", "assign", "evaluate", "embed", "demo", "bench"} <= set(VERBS)
    for verb in VERBS:
        assert f"{verb}:unknown-option" in CASES and f"{verb}:unknown-command" in CASES
    assert {"fit:wrong-type", "embed:wrong-type", "assign:missing-argument", "fit:set-wrong-type"} <= set(
        CASES
    )


def test_every_verb_with_set_has_a_typed_key_to_try() -> None:
    assert {verb for verb in VERBS if _has_set(verb)} <= set(SET_TYPED_KEY)


def test_every_usage_entry_has_a_console_case() -> None:
    codes = {c.code for c in CASES.values()}
    assert {e.code for e in USAGE} <= codes, {e.code for e in USAGE} - codes


@pytest.mark.parametrize("name", sorted(CASES))
def test_usage_error_is_one_line_exit_2_without_traceback(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    done = quasid(*case.args, cwd=tmp_path)
    message = one_error_line(done)
    missing = [n for n in case.names if n.lower() not in message.lower()]  # click: 'SIDS', typer 0.29: 'sids'
    assert not missing, f"{message!r} does not name {missing}"
    entry = lookup(message)
    if case.code is not None:
        assert entry is not None and entry.code == case.code, f"{message!r} catalogued as {entry}"
    assert not (tmp_path / "never-written").exists()


def test_a_toml_value_of_the_wrong_type_names_file_key_and_type(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('data = "synthetic"\nmethod = "rqvae"\n[tokenizer]\nepochs = "many"\n')
    message = one_error_line(quasid("fit", "-c", str(tmp_path / "bad.toml"), cwd=tmp_path))
    assert "bad.toml" in message and "tokenizer.epochs='many'" in message and "integer" in message, message
    assert lookup(message).code == "config-value-type"


def test_debug_still_shows_the_traceback(tmp_path: Path) -> None:
    for args in (("--debug", "fit", "synthetic", "--no-such-option"), ("--debug", "fitt")):
        done = quasid(*args, cwd=tmp_path)
        assert done.returncode not in (0, 2) and "Traceback" in done.stderr, done.stderr


def test_help_still_works(tmp_path: Path) -> None:
    done = quasid("--help", cwd=tmp_path)
    assert done.returncode == 0 and all(verb in done.stdout for verb in VERBS), done.stdout
    done = quasid("fit", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "--set" in done.stdout


# ------------------------------------------------------------------ whichever click raised it


class _FakeClickException(Exception):  # noqa: N818 - named as click names it
    """Click's shape without click: the handler must go by names and attributes, not by one module."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        return self.message


def _fake_no_such_option() -> type[Exception]:
    click_exception = type("ClickException", (_FakeClickException,), {})
    usage_error = type("UsageError", (click_exception,), {"exit_code": 2})

    class NoSuchOption(usage_error):  # type: ignore[misc, valid-type]
        def __init__(self, option_name: str, possibilities: list[str] | None = None) -> None:
            super().__init__(f"No such option: {option_name}")
            self.option_name, self.possibilities, self.ctx = option_name, possibilities, None

    return NoSuchOption


def _click_no_such_option(module: str) -> type[Exception]:
    return pytest.importorskip(module).exceptions.NoSuchOption


@pytest.mark.parametrize("source", ["click", "typer._click", "a click-alike"])
def test_the_handler_does_not_depend_on_which_click_raised(source: str, monkeypatch, capsys) -> None:
    from quasid import cli

    no_such_option = _fake_no_such_option() if source == "a click-alike" else _click_no_such_option(source)

    def raise_it(self: object, **kwargs: object) -> None:
        raise no_such_option("--nope", possibilities=["--nape"])

    monkeypatch.setattr(type(cli.app), "__call__", raise_it)
    monkeypatch.setattr(sys, "argv", ["quasid", "fit", "--nope"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: no such option --nope for `quasid fit` (did you mean --nape?)"), err
    assert lookup(err.removeprefix("error: ")).code == "unknown-option"
