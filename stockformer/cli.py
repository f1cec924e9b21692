"""The `stockformer` command. Each stage registers its own sub-commands; this module only
assembles them and turns user-caused errors into one line and exit code 2."""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from stockformer.allocator import reexec_under_tcmalloc
from stockformer.errors import StockformerError

app = typer.Typer(
    name="stockformer",
    help="Stockformer: factors, training, backtests, dashboard and the daily job.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# stage modules that expose `register(app)`; each adds its commands
_COMMAND_MODULES = [
    "stockformer.data.commands",
    "stockformer.factors.commands",
    "stockformer.train.commands",
    "stockformer.backtest.commands",
    "stockformer.jobs.commands",
    "stockformer.pipeline_commands",
]

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _err:
        if _err.name != _name:
            raise
        continue
    _mod.register(app)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a real process (tests pass argv and must never be replaced)
        reexec_under_tcmalloc(sys.argv[1:])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # with standalone_mode=False click returns the code of a typer.Exit instead of raising it
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc != 0:
            return _exit(rc, argv)
    except StockformerError as err:
        typer.echo(f"error: {err}", err=True)
        return _exit(2, argv)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return _exit(130, argv)
    except (typer.Exit, SystemExit) as err:
        code = getattr(err, "exit_code", getattr(err, "code", 0)) or 0
        return _exit(int(code), argv)
    except Exception as err:  # click usage errors carry their own exit code
        import click

        if isinstance(err, click.ClickException):
            err.show()
            return _exit(err.exit_code, argv)
        if isinstance(err, click.exceptions.Abort):
            typer.echo("error: aborted", err=True)
            return _exit(1, argv)
        raise
    return _exit(0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    # called as a console script: exit the process; called from tests: return the code
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
