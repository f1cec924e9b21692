"""`stockformer backtest`: backtest a run's predictions and print a short summary."""

from __future__ import annotations

from pathlib import Path

import typer


def _summary_table(result, out_dir: Path):
    from rich.table import Table

    s = result.summary
    table = Table(title=f"Backtest ({out_dir})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("total_return", "annualized_return", "sharpe", "max_drawdown",
                "excess_annualized_return", "information_ratio", "turnover", "cost_paid", "win_rate"):
        v = s.get(key)
        table.add_row(key, f"{v:,.4f}" if isinstance(v, float) else str(v))
    pred = s.get("prediction", {})
    for key in ("ic", "rank_ic", "icir", "rank_icir"):
        v = pred.get(key)
        table.add_row(f"prediction.{key}", f"{v:.4f}" if isinstance(v, float) else str(v))
    return table


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    def backtest(
        run: str = typer.Option("latest", "--run", help="run directory, or `latest`"),
        predictions: Path | None = typer.Option(None, "--predictions", help="Parquet/CSV/pred.pkl"),
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
        """Backtest a run's predictions; writes <run>/backtest/."""
        from rich.console import Console

        from stockformer.backtest.runner import backtest_run, latest_run

        run_dir = latest_run(runs_dir) if run == "latest" else Path(run)
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
        result = backtest_run(run_dir, overrides, predictions=predictions, data=data)
        Console().print(_summary_table(result, run_dir / "backtest"))
