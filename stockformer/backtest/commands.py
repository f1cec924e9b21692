"""`stockformer backtest` (a run's predictions, or any predictions file on a dataset),
`stockformer evaluate` (signal metrics alone) and `stockformer export` (qlib pred.pkl)."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from stockformer.backtest import annualization
from stockformer.backtest.formatting import fmt
from stockformer.backtest.predictions import load_predictions
from stockformer.backtest.runner import backtest_external, backtest_run
from stockformer.data.store import load_panel
from stockformer.errors import ConfigError, DataError
from stockformer.rundir import external_run_dir, latest_run
from stockformer.signal.metrics import accuracy_text


def _summary_table(result, out_dir: Path):
    from rich.markup import escape

    s = result.summary
    table = Table(title=f"Backtest ({out_dir})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("total_return", "annualized_return", "sharpe", "sortino", "calmar", "max_drawdown",
                "excess_annualized_return", "information_ratio", "alpha", "beta", "turnover",
                "cost_paid", "win_rate"):
        table.add_row(key, fmt(key, s.get(key)))
    pred = s.get("prediction", {})
    for key in ("ic", "rank_ic", "icir", "rank_icir"):
        table.add_row(f"prediction.{key}", fmt(key, pred.get(key)))
    # the basis of every annualised row, and the warning when the period is too short for it
    table.caption = f"annualised with {annualization.days_per_year(s)} trading days a year"
    if note := annualization.caveat(s):
        table.caption += f"\n[bold yellow]caveat:[/] {escape(note)}"
    return table


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    def backtest(
        run: str | None = typer.Option(
            None, "--run", help="run directory, or `latest` (the default without --predictions)"),
        predictions: Path | None = typer.Option(
            None, "--predictions",
            help="long or wide Parquet/CSV, or qlib pred.pkl; without --run: needs --data and "
                 "writes runs/<id>-external/"),
        data: Path | None = typer.Option(None, "--data", help="dataset directory or panel file"),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where `latest` looks"),
        strategy: str | None = typer.Option(None, "--strategy", help="topk_dropout | topk | long_short"),
        topk: int | None = typer.Option(None, "--topk"),
        n_drop: int | None = typer.Option(None, "--n-drop"),
        rebalance_every: int | None = typer.Option(None, "--rebalance-every"),
        cost_preset: str | None = typer.Option(None, "--cost-preset", help="cn_a_share | us | none"),
        fill: str | None = typer.Option(None, "--fill", help="open | close (of day t+1)"),
        benchmark: Path | None = typer.Option(None, "--benchmark", help="index CSV/Parquet (date, close)"),
    ) -> None:
        """Backtest a run's predictions (writes <run>/backtest/), or a predictions file on a
        dataset (writes runs/<id>-external/)."""
        from rich.console import Console

        overrides = {
            f"backtest.{k}": v
            for k, v in {
                "strategy": strategy,
                "topk": topk,
                "n_drop": n_drop,
                "rebalance_every": rebalance_every,
                "fill_price": fill,
                "costs.preset": cost_preset,
                "benchmark": str(benchmark) if benchmark else None,
            }.items()
            if v is not None
        }
        if run is None and predictions is not None:
            if data is None:
                raise DataError("--predictions without --run needs --data (the dataset to trade on)")
            run_dir, result = backtest_external(predictions, data, overrides, runs_dir=runs_dir)
        else:
            run_dir = latest_run(runs_dir) if run in (None, "latest") else Path(run)
            result = backtest_run(run_dir, overrides, predictions=predictions, data=data)
        Console().print(_summary_table(result, run_dir / "backtest"))

    _register_signal_commands(app)


def _signal_table(report) -> Table:
    m = report.metrics
    table = Table(title=f"Signal quality ({report.settings['start']} .. {report.settings['end']}, "
                        f"{m.get('days', 0)} days)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("ic", "rank_ic", "icir", "rank_icir", "ic_tstat", "rank_ic_tstat",
                "topk_hit_rate", "long_short_spread"):
        table.add_row(key, _num(m.get(key)))
    table.add_row(f"accuracy ({report.settings['accuracy_from']})", accuracy_text(m))
    for i, q in enumerate(m.get("quantile_returns", []), 1):
        table.add_row(f"quantile {i} mean return", _num(q, ".4%"))
    for row in report.decay:
        table.add_row(f"IC decay lag {row['lag']}: IC / RankIC",
                      f"{_num(row['ic'])} / {_num(row['rank_ic'])} ({row['days']} days)")
    return table


def _num(v, fmt: str = ".4f") -> str:
    return format(v, fmt) if isinstance(v, float) and math.isfinite(v) else "n/a"


def _register_signal_commands(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        predictions: Path = typer.Option(..., "--predictions",
                                         help="long or wide Parquet/CSV, or qlib pred.pkl"),
        data: Path = typer.Option(..., "--data", help="dataset directory or panel file"),
        fill: str = typer.Option("close", "--fill", help="open | close (of day t+1)"),
        topk: int = typer.Option(5, "--topk", min=1, help="k of the top-k hit rate"),
        out: Path | None = typer.Option(None, "--out", help="folder to write (default: a new "
                                        "runs/<id>-external/)"),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where the default goes"),
    ) -> None:
        """Signal metrics of a predictions file, without trading it: IC / RankIC / ICIR /
        t-stats, accuracy beside the majority-class rate, quantile returns, IC decay 1-5-10-20
        days. Writes signal.json and daily_ic.parquet."""
        from rich.console import Console

        from stockformer.backtest.evaluate import (  # lazy: keeps --help fast
            evaluate_signal,
            write_signal,
        )

        if fill not in ("open", "close"):
            raise ConfigError(f"--fill {fill!r}: not open or close")
        report = evaluate_signal(load_predictions(predictions), load_panel(data), fill=fill,
                                 topk=topk)
        report.settings |= {"predictions_file": str(predictions.resolve()),
                            "data": str(data.resolve())}
        target = write_signal(report, out if out is not None else external_run_dir(runs_dir))
        Console().print(_signal_table(report))
        typer.echo(f"written: {target}")

    @app.command("export")
    def export(
        run: str = typer.Option(..., "--run", help="run directory, or `latest`"),
        format: str = typer.Option("qlib", "--format", help="qlib (pred.pkl)"),
        out: Path | None = typer.Option(None, "--out", help="file to write (default <run>/pred.pkl)"),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where `latest` looks"),
    ) -> None:
        """Export a run's predictions for other tools (qlib: pred.pkl, MultiIndex
        datetime/instrument, column score)."""
        from stockformer.backtest.export import (  # lazy: keeps --help fast
            EXPORT_FORMATS,
            export_qlib,
        )

        if format not in EXPORT_FORMATS:
            raise ConfigError(f"--format {format!r}: not one of {', '.join(EXPORT_FORMATS)}")
        run_dir = latest_run(runs_dir) if run == "latest" else Path(run)
        typer.echo(f"written: {export_qlib(run_dir, out)}")
