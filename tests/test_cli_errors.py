"""Command-line mistakes end with one `error:` line and exit 2, never a traceback: usage
errors (whatever click typer uses), malformed --set values, unwritable folders; help and
usage lines name `stockformer`; the README's CLI table lists every command."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer

from stockformer.cli import app, main, run_cli
from stockformer.config import Config

ROOT = Path(__file__).resolve().parents[1]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    # tqdm's progress bar (stderr, redrawn with \r) is not a message
    lines = [ln for ln in re.split(r"[\r\n]", err) if ln.strip() and not re.search(r"\d+%\|", ln)]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: "), lines
    return lines[0]


# -- usage mistakes -------------------------------------------------------------------------------
USAGE_MISTAKES = {
    "bad choice": (["data", "import", "x.csv", "--out", "{tmp}/o", "--format", "xls"], "--format"),
    "unknown option": (["data", "import", "x.csv", "--bogus"], "--bogus"),
    "missing option": (["data", "import", "x.csv"], "--out"),
    "not a number": (["data", "synth", "--stocks", "abc", "--out", "{tmp}/o"], "--stocks"),
    "impossible date": (["data", "synth", "--start", "2016-13-45", "--out", "{tmp}/o"], "--start"),
    "unknown command": (["nosuch"], "nosuch"),
    "missing argument": (["data", "info"], "PATH"),
    "unknown option of a stage": (["backtest", "--topk", "abc"], "--topk"),
}


@pytest.mark.parametrize("case", list(USAGE_MISTAKES))
def test_usage_mistakes_are_one_line_and_exit_2(case, tmp_path, capsys):
    argv, named = USAGE_MISTAKES[case]
    code = main([a.format(tmp=tmp_path) for a in argv])
    line = one_error_line(capsys)
    assert code == 2
    assert named.lower() in line.lower()
    assert "stockformer" in line  # the help hint names the command the user typed
    assert not (tmp_path / "o").exists()  # nothing written


def test_usage_mistake_in_a_real_process(tmp_path):
    # the console script's path: the installed typer's own exceptions, not the test harness
    res = subprocess.run([sys.executable, "-m", "stockformer.cli", "data", "import", "x.csv",
                          "--out", str(tmp_path / "o"), "--format", "xls"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # this checkout's code
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: Invalid value for --format: 'xls' is not one of auto, csv, parquet, folder, qlib"
        " (see: stockformer data import --help)"]


def _raising(exc: Exception) -> typer.Typer:
    tiny = typer.Typer()

    @tiny.command()
    def go() -> None:
        raise exc

    @tiny.command()
    def other() -> None:  # two commands: `go` stays a sub-command
        pass

    return tiny


def test_usage_errors_of_either_click_are_one_line(capsys):
    """typer either bundles click (typer._click) or uses the click package; a usage error of
    the one it uses, and one raised through the click package, both become one line."""
    assert run_cli(_raising(typer.BadParameter("bad thing")), ["go"]) == 2
    assert "bad thing" in one_error_line(capsys)
    click = pytest.importorskip("click")
    assert run_cli(_raising(click.UsageError("wrong use")), ["go"]) == 2
    assert "wrong use" in one_error_line(capsys)


def test_a_bare_group_shows_its_help(capsys):
    code = main(["data"])
    out = capsys.readouterr()
    assert code in (0, 2)  # click >= 8.2 exits 2 here, older click 0
    assert "Traceback" not in out.err and "synth" in out.out + out.err


# -- --set values and config keys -----------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "train.epochs=[",
    "train.epochs=!!python/object:os.system x",
    "train.epochs=!!python/object/apply:os.system ['true']",
    "train.epochs=!!binary aGk=",
    "train.epochs={a: [}",
])
def test_malformed_set_values_name_the_key(value, tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path / "none"), "--set", value])
    line = one_error_line(capsys)
    assert code == 2
    assert line.startswith("error: --set: train.epochs: "), line


def test_set_without_equals(capsys):
    assert main(["train", "--set", "train.epochs"]) == 2
    assert "KEY=VALUE" in one_error_line(capsys)


def test_unknown_set_key_blames_the_flag_and_suggests(tmp_path, capsys):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("train:\n  epochs: 2\n")
    assert main(["train", "--config", str(cfg), "--set", "train.epocs=3"]) == 2
    line = one_error_line(capsys)
    assert line == "error: --set: unknown key train.epocs (did you mean train.epochs?)"
    assert main(["train", "--config", str(cfg), "--set", "train.epochs=many"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --set: train.epochs: ") and "mine.yaml" not in line
    assert main(["train", "--set", "train.epochs.x=3"]) == 2
    assert "train.epochs is a value, not a section" in one_error_line(capsys)


def test_a_bad_flag_value_blames_the_flag(capsys):
    assert main(["train", "--device", "gpu"]) == 2
    assert one_error_line(capsys).startswith("error: --device: train.device: ")


def test_config_file_unknown_key_suggests_the_real_one(tmp_path, capsys):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("model:\n  d_modle: 64\n")
    assert main(["train", "--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert line == f"error: {cfg}: model.d_modle: unknown key (did you mean model.d_model?)"


# -- folders the user cannot write ----------------------------------------------------------------
def test_a_path_through_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code = main(["data", "synth", "--stocks", "3", "--days", "40", "--out", str(blocker / "ds")])
    line = one_error_line(capsys)
    assert code == 2 and str(blocker) in line
    assert blocker.read_text() == "x"


def test_permission_denied_on_write_is_one_line(tmp_path, capsys, monkeypatch):
    import stockformer.io

    @contextmanager
    def denied(target):
        raise PermissionError(errno.EACCES, "Permission denied", str(target))
        yield  # pragma: no cover

    monkeypatch.setattr(stockformer.io, "atomic_path", denied)
    code = main(["data", "synth", "--stocks", "3", "--days", "40", "--out", str(tmp_path / "ds")])
    line = one_error_line(capsys)
    assert code == 2
    assert str(tmp_path / "ds") in line and "permission denied" in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root (or Windows) writes into read-only folders")
def test_read_only_folder_is_one_line(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code = main(["data", "synth", "--stocks", "3", "--days", "40", "--out", str(ro / "ds")])
    finally:
        ro.chmod(0o700)
    line = one_error_line(capsys)
    assert code == 2 and "permission denied" in line


def test_predict_into_an_unusable_folder_is_one_line_without_a_log(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code = main(["predict", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "d"),
                 "--out", str(blocker / "out"), "--calendar", "data"])
    line = one_error_line(capsys)
    assert code == 2 and str(blocker) in line
    assert "job.log" not in line


def test_predict_names_the_log_only_once_it_is_written(tmp_path, capsys, monkeypatch):
    import stockformer.jobs.job
    import stockformer.rundir

    def broken_run(path):
        raise RuntimeError("run reader broke")

    monkeypatch.setattr(stockformer.rundir, "load_run", broken_run)
    out = tmp_path / "out"
    argv = ["predict", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "d"),
            "--out", str(out), "--calendar", "data"]
    assert main(argv) == 1
    line = one_error_line(capsys)
    assert "run reader broke" in line and "job.log" not in line  # failed before the log

    def good_run(path):
        return SimpleNamespace(config=Config(), name="r1", model_hash="h")

    def broken_job(*args, **kwargs):
        raise RuntimeError("predictor broke")

    monkeypatch.setattr(stockformer.rundir, "load_run", good_run)
    monkeypatch.setattr(stockformer.jobs.job, "_locked", broken_job)
    assert main(argv) == 1
    line = one_error_line(capsys)
    assert line.endswith(f"(traceback in {out / 'job.log'})"), line
    assert "predictor broke" in (out / "job.log").read_text()


# -- help and usage lines -------------------------------------------------------------------------
def test_download_help_shows_the_data_extra(capsys):
    assert main(["data", "download", "--help"]) == 0
    assert "stockformer[data]" in capsys.readouterr().out


def test_usage_lines_name_stockformer(capsys):
    assert main(["train", "--help"]) == 0
    assert re.search(r"^Usage: stockformer train ", capsys.readouterr().out, re.M)


def _commands(group, prefix: str = "") -> set[str]:
    names = set()
    for name, cmd in group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            names |= _commands(cmd, f"{prefix}{name} ")
        else:
            names.add(f"{prefix}{name}")
    return names


def test_readme_cli_table_lists_every_command():
    section = (ROOT / "README.md").read_text().split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in re.findall(r"^\| `stockformer ([^`]*)`", section, re.M):
        words = [w for w in row.split() if re.fullmatch(r"[a-z]+", w)]
        listed |= {words[0], " ".join(words[:2])}
    registered = _commands(typer.main.get_command(app))
    assert registered <= listed, sorted(registered - listed)
    for promised in ("compare", "data download", "evaluate", "export"):
        assert promised in listed


def test_every_command_module_exists_and_registers():
    """cli.py imports each listed module outright: one that does not exist (the old
    stockformer.train.commands entry) is an import error, never silently skipped."""
    import importlib

    from stockformer import cli

    for name in cli._COMMAND_MODULES:
        assert callable(importlib.import_module(name).register), name
