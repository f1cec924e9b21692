"""The dashboard in a real chromium: `streamlit run app.py` against a fixture run, driven
with Playwright. Skips only where Debian's chromium is not installed (.ci/run installs it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import summary_of, write_run

from stockformer.dashboard.format import fmt

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("playwright.sync_api")
    tmp_path = tmp_path_factory.mktemp("browser")
    root = tmp_path / "runs"
    run = write_run(root, "demo", stocks=30, days=200)
    port = _free_port()
    env = dict(os.environ, STOCKFORMER_RUNS=str(root), STOCKFORMER_PREDICTIONS=str(tmp_path / "p"))
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, run
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def dashboard_page(url: str):
    """A chromium page opened on the dashboard, and its sidebar."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(url, wait_until="domcontentloaded", timeout=30_000)
            yield page, page.get_by_test_id("stSidebar")
        finally:
            browser.close()


def test_performance_page_in_chromium(server, tmp_path):
    url, run = server
    sharpe = fmt("sharpe", summary_of(run)["sharpe"])
    total = fmt("total_return", summary_of(run)["total_return"])
    with dashboard_page(url) as (page, sidebar):
        sidebar.get_by_text("Performance", exact=True).click(timeout=30_000)
        chart = page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first
        chart.wait_for(state="visible", timeout=30_000)
        # the equity chart draws the three curves, named in its legend
        legend = chart.locator(".legend .traces")
        assert legend.count() == 3
        assert [legend.nth(i).text_content().strip() for i in range(3)] == ["strategy", "benchmark", "excess"]
        # the excess has its own axis (a panel below), not the equity curves' scale
        assert chart.evaluate("el => el.data.map(t => t.yaxis || 'y')") == ["y", "y", "y2"]
        table = page.get_by_test_id("stTable").first
        table.wait_for(timeout=30_000)
        text = table.inner_text()
        assert "sharpe" in text and sharpe in text and total in text
        page.wait_for_timeout(500)  # let plotly finish its transitions for the screenshot
        shot = tmp_path / "performance.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        assert not page.get_by_test_id("stException").count()


def test_holdings_days_and_stock_drilldown_in_chromium(server):
    url, run = server
    trades = pl.read_parquet(run / "backtest" / "trades.parquet")
    with dashboard_page(url) as (page, sidebar):
        sidebar.get_by_text("Holdings & trades", exact=True).click(timeout=30_000)
        page.get_by_text("Download trades (CSV)").wait_for(timeout=30_000)
        grid = page.get_by_test_id("stDataFrame").first
        grid.wait_for(timeout=30_000)
        first_day = trades["date"].min().isoformat()
        page.get_by_text(first_day).first.wait_for(state="attached", timeout=30_000)
        assert "00:00:00" not in page.content()  # days shown as days in every table

        sidebar.get_by_text("Stock drilldown", exact=True).click(timeout=30_000)
        page.get_by_test_id("stHeading").get_by_text("Stock drilldown").wait_for(timeout=30_000)
        chart = page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot",
                             has_text="price with the strategy's trades").first
        chart.wait_for(state="visible", timeout=30_000)
        legend = chart.locator(".legend .traces")
        legend.nth(3).wait_for(timeout=30_000)
        names = [legend.nth(i).text_content().strip() for i in range(legend.count())]
        assert {"price", "entry", "exit", "score"} <= set(names)
        assert chart.locator(".scatterlayer .point").count() > 0  # entry / exit markers drawn
        assert "00:00:00" not in page.content()
        assert not page.get_by_test_id("stException").count()
