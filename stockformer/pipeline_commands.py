"""CLI commands that chain stages: `train`, `walkforward` and `demo`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from stockformer.backtest import backtest_run
from stockformer.backtest.annualization import caveat
from stockformer.config import Config, load_config, parse_overrides
from stockformer.data.store import load_panel
from stockformer.data.synthetic import save_synthetic_dataset
from stockformer.errors import ConfigError
from stockformer.rundir import new_run_dir
from stockformer.signal.metrics import accuracy_text
from stockformer.train.progress import set_quiet

console = Console()


def resolve_config(
    config: Path | None, data: str | None, device: str | None, sets: list[str] | None
) -> Config:
    overrides = parse_overrides(sets)
    origins = dict.fromkeys(overrides, "--set")
    if data:
        overrides["data.path"], origins["data.path"] = data, "--data"
    if device:
        overrides["train.device"], origins["train.device"] = device, "--device"
    return load_config(config, overrides, origins)


def print_metrics(run_dir: Path) -> None:
    from rich.markup import escape

    metrics = json.loads((run_dir / "metrics.json").read_text())
    table = Table(title=f"run {run_dir}")
    table.add_column("split")
    for key in ("ic", "rank_ic", "icir", "rank_icir", "accuracy", "mae"):
        table.add_column(key, justify="right")
    for split in ("validation", "test"):
        m = metrics[split]
        table.add_row(split, *(f"{m[k]:.4f}" for k in ("ic", "rank_ic", "icir", "rank_icir")),
                      accuracy_text(m), f"{m['mae']:.4f}")
    console.print(table)
    for line in metrics.get("warnings") or []:  # runs written before the collapse check have none
        console.print(f"[bold yellow]{escape(line)}[/]")
    console.print(
        f"trade output: [bold]{metrics['trade_output']}[/] (chosen on validation) | "
        f"parameters {metrics['parameters']:,} | best epoch {metrics['best_epoch']} | "
        f"train {metrics['train_seconds']:.1f}s on {metrics['device']}"
    )
    members = metrics.get("ensemble_members") or []
    if int(metrics.get("ensemble") or 1) > 1:
        seeds = ", ".join(str(m.get("seed")) for m in members)
        ics = ", ".join(f"{m.get('validation_rank_ic', float('nan')):.4f}" for m in members)
        console.print(f"ensemble of {metrics['ensemble']} (seeds {seeds}; scores rank-averaged) | "
                      f"members' validation RankIC {ics}")


def ensure_data(cfg: Config) -> None:
    """Generate the configured synthetic market when the data path does not exist yet."""
    path = Path(cfg.data.path)
    if path.exists():
        return
    s = cfg.data.synth
    console.print(f"[dim]{path} not found: generating the synthetic market ({s.stocks} stocks x {s.days} days)[/]")
    save_synthetic_dataset(path, s.stocks, s.days, s.seed)


RAY_HELP = ("run the tasks on Ray: a cluster address (host:6379, ray://host:10001), auto (the "
            "cluster RAY_ADDRESS or `ray start` names) or local (a private instance); see docs/USAGE.md")


def register(app: typer.Typer) -> None:
    config_opt = typer.Option(None, "--config", "-c", help="YAML config (default: built-in paper settings)")
    data_opt = typer.Option(None, "--data", help="dataset directory or panel file (overrides data.path)")
    device_opt = typer.Option(None, "--device", help="auto | cpu | cuda (overrides train.device)")
    set_opt = typer.Option(None, "--set", help="override a config key, e.g. --set train.epochs=5 (repeatable)")
    quiet_opt = typer.Option(False, "--quiet", "-q", help="no per-epoch progress lines on stderr")

    @app.command()
    def train(
        config: Path = config_opt,
        data: str = data_opt,
        device: str = device_opt,
        run_dir: Path = typer.Option(None, "--run-dir", help="where to write the run (default runs/<id>)"),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --run-dir"),
        sets: list[str] = set_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Train on one split (train/validation/test), predict the test period, write runs/<id>/."""
        set_quiet(quiet)
        from stockformer.train.run import train_run  # lazy: keeps --help fast

        cfg = resolve_config(config, data, device, sets)
        if resume and run_dir is None:
            raise ConfigError("--resume needs --run-dir (the run to continue)")
        out = train_run(cfg, run_dir=run_dir, resume=resume)
        print_metrics(out)
        console.print(f"wrote {out}")

    @app.command()
    def walkforward(
        config: Path = config_opt,
        data: str = data_opt,
        device: str = device_opt,
        run_dir: Path = typer.Option(None, "--run-dir"),
        workers: int = typer.Option(1, "--workers", min=1, help="windows trained in parallel processes"),
        ray_address: str = typer.Option(None, "--ray", "--ray-address", help=RAY_HELP),
        sets: list[str] = set_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Retrain on every rolling window (split.rolling) and concatenate the out-of-sample predictions."""
        set_quiet(quiet)
        from stockformer.train.run import train_run  # lazy: keeps --help fast

        cfg = resolve_config(config, data, device, sets)
        cfg.split.scheme = "rolling"
        out = train_run(cfg, run_dir=run_dir, walkforward=True, workers=workers, ray_address=ray_address)
        print_metrics(out)
        from stockformer.backtest.walkforward import window_table  # lazy: keeps --help fast

        backtest_run(out)  # one backtest over the whole out-of-sample period
        console.print(window_table(out))
        console.print(f"wrote {out} (per-window table: {out / 'backtest' / 'windows.csv'})")

    @app.command()
    def compare(
        config: Path = config_opt,
        data: str = data_opt,
        device: str = device_opt,
        models: str = typer.Option(
            "stockformer,lstm,gru,alstm,tcn,transformer,gats,lightgbm,mlp,momentum,reversal,stockformer:shuffled",
            "--models", help="comma-separated; NAME:shuffled = the label-shuffled control, NAME:ensK = a "
            "K-seed ensemble (train.ensemble=K for that entry), e.g. stockformer:ens3:shuffled"),
        seeds: int = typer.Option(1, "--seeds", min=1),
        out: Path = typer.Option(None, "--out", help="output directory (default runs/<id>-compare); "
                                 "a rerun into it skips the models and windows already finished"),
        ray: str = typer.Option(None, "--ray", help=RAY_HELP),
        threads: int = typer.Option(None, "--threads", min=1, help="torch threads per task (on Ray, the "
                                    "CPUs each task reserves; default all cores here, 1 on Ray); "
                                    "walk-forward windows use one"),
        sets: list[str] = set_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """Train, predict and backtest several models on the same data, splits and costs."""
        set_quiet(quiet)
        # lazy: keeps --help fast
        from stockformer.backtest.compare import compare as run_compare
        from stockformer.backtest.compare import markdown_table

        cfg = resolve_config(config, data, device, sets)
        ensure_data(cfg)
        names = [m.strip() for m in models.split(",") if m.strip()]
        if out is None:
            cfg_named = cfg.model_copy(update={"name": f"{cfg.name}-compare"})
            out = new_run_dir(cfg_named)
        summary = run_compare(cfg, names, seeds, out, progress=lambda msg: console.rule(msg),
                              ray=ray, threads=threads)
        console.print(markdown_table(summary))
        console.print(f"wrote {out / 'comparison.csv'} and {out / 'comparison.md'}")

    @app.command()
    def demo(
        config: Path = typer.Option(Path("configs/small.yaml"), "--config", "-c"),
        device: str = device_opt,
        sets: list[str] = set_opt,
        quiet: bool = quiet_opt,
    ) -> None:
        """The whole pipeline on the embedded synthetic market: data, train, predict, backtest, report."""
        set_quiet(quiet)
        from stockformer.jobs.job import run_job  # lazy: keeps --help fast
        from stockformer.train.run import train_run  # lazy: keeps --help fast

        cfg = resolve_config(config, None, device, sets)
        console.rule("1/4 data")
        ensure_data(cfg)
        console.rule("2/4 train and predict")
        run_dir = train_run(cfg)
        print_metrics(run_dir)
        console.rule("3/4 backtest")
        result = backtest_run(run_dir)  # writes run_dir/backtest/
        s = result.summary
        console.print(
            f"backtest: total return {s['total_return']:.2%}, annualized {s['annualized_return']:.2%}, "
            f"Sharpe {s['sharpe']:.2f}, max drawdown {s['max_drawdown']:.2%}, "
            f"excess (ann.) {s['excess_annualized_return']:.2%}, turnover {s['turnover']:.2f}"
        )
        from rich.markup import escape

        if note := caveat(s):  # a short test period: say what the annualised figures are worth
            console.print(f"[bold yellow]caveat:[/] {escape(note)}")
        console.rule("4/4 daily job: picks for the day after the last date")
        last = load_panel(cfg.data.path).get_column("date").max()
        job = run_job(run_dir, cfg.data.path, out=cfg.job.out, day=last, force=True, calendar="data")
        console.print(f"daily job: {job.status}, {job.rows} picks -> {job.parquet}")
        console.print(f"[bold green]demo done[/]: run directory {run_dir}\n"
                      f"  report: {run_dir / 'backtest' / 'report.html'}\n"
                      f"  picks:  {job.parquet}\n"
                      f"  dashboard: make app  (streamlit run app.py)")
