"""The training commands re-execute under tcmalloc only when that is wanted and possible."""

from __future__ import annotations

import pytest

from stockformer import allocator
from stockformer.allocator import tcmalloc_env

LIB = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


@pytest.fixture
def has_lib(monkeypatch):
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: LIB)


def test_training_commands_get_tcmalloc_preloaded(has_lib):
    for argv in (["train", "--config", "c.yaml"], ["walkforward"], ["compare"], ["demo"]):
        env = tcmalloc_env(argv, {"PATH": "/bin"})
        assert env is not None and env["LD_PRELOAD"] == LIB and env["PATH"] == "/bin"
        assert tcmalloc_env(argv, env) is None  # the re-executed process does not loop


def test_an_existing_preload_is_kept_after_tcmalloc(has_lib):
    env = tcmalloc_env(["train"], {"LD_PRELOAD": "/opt/libfoo.so"})
    assert env["LD_PRELOAD"] == f"{LIB}:/opt/libfoo.so"


@pytest.mark.parametrize("argv, environ", [
    (["backtest", "--run", "latest"], {}),  # not a training command
    (["--help"], {}),
    ([], {}),
    (["train"], {"STOCKFORMER_ALLOCATOR": "system"}),  # turned off
    (["train"], {"LD_PRELOAD": "/usr/lib/libtcmalloc.so.4"}),  # already under tcmalloc
])
def test_no_reexec_when_not_wanted(has_lib, argv, environ):
    assert tcmalloc_env(argv, environ) is None


def test_no_reexec_without_the_library(monkeypatch):
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    assert tcmalloc_env(["train"], {}) is None


def test_cli_called_with_argv_never_reexecutes(monkeypatch):
    # tests and embedding code call main(argv): the process must not be replaced
    from stockformer import cli

    monkeypatch.setattr(cli, "reexec_under_tcmalloc", lambda argv: pytest.fail("re-executed"))
    assert cli.main(["--help"]) == 0
