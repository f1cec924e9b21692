"""The `stockformer` command. Each stage registers its own sub-commands; this module only
assembles them and turns user-caused errors into one line and exit code 2."""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from stockformer.allocator import reexec_under_tcmalloc
from stockformer.errors import StockformerError, environment_error_line

PROG_NAME = "stockformer"  # usage lines name the command, whether run as a script or `-m`

app = typer.Typer(
    name=PROG_NAME,
    help="Stockformer: factors, training, backtests, dashboard and the daily job.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is shown as written: `[data]` must survive, not be markup
)

# modules that expose `register(app)`; each adds its commands (train, walkforward, compare and
# demo span stages: pipeline_commands). A missing one is an error, never skipped.
_COMMAND_MODULES = [
    "stockformer.data.commands",
    "stockformer.factors.commands",
    "stockformer.backtest.commands",
    "stockformer.jobs.commands",
    "stockformer.pipeline_commands",
    "stockformer.tune.commands",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _click_errors() -> tuple[type[Exception], ...]:
    """click's error base wherever this typer takes click from: typer.BadParameter derives from
    it both in typer's bundled copy (typer._click) and in the click package (older typer), so
    the handler matches whatever the installed typer uses, plus the click package itself."""
    found = {importlib.import_module(typer.BadParameter.__module__).ClickException}
    try:
        import click

        found.add(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


_CLICK_ERRORS = _click_errors()


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a real process (tests pass argv and must never be replaced)
        reexec_under_tcmalloc(sys.argv[1:])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return _exit(run_cli(app, argv), argv)


def run_cli(application: typer.Typer, argv: list[str] | None) -> int:
    """Run `application` and return its exit code; every error a user can cause (a usage
    mistake, a bad input, an unwritable folder) is printed as one `error: ...` line."""
    try:
        # with standalone_mode=False click returns the code of a typer.Exit instead of raising it
        rc = application(args=argv, prog_name=PROG_NAME, standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except StockformerError as err:
        return _fail(str(err), 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except (typer.Exit, SystemExit) as err:
        return int(getattr(err, "exit_code", getattr(err, "code", 0)) or 0)
    except typer.Abort:
        return _fail("aborted", 1)
    except OSError as err:
        line = environment_error_line(err)
        if line is None:
            raise
        return _fail(line, 2)
    except _CLICK_ERRORS as err:
        return _usage_error(err)


def _usage_error(err: Exception) -> int:
    """A usage mistake (or a file click could not open): one line naming the command's help."""
    if type(err).__name__ == "NoArgsIsHelpError":  # a bare group (click >= 8.2): show its help
        typer.echo(err.format_message(), err=True)
        return 2
    message = " ".join(err.format_message().split())  # click wraps some messages over lines
    ctx = getattr(err, "ctx", None)
    if ctx is not None:
        message += f" (see: {ctx.command_path} --help)"
    return _fail(message, 2)


def _fail(message: str, code: int) -> int:
    typer.echo(f"error: {message}", err=True)
    return code


def _exit(code: int, argv: list[str] | None) -> int:
    # called as a console script: exit the process; called from tests: return the code
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
