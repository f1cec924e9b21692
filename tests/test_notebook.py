"""The quickstart notebook is executed, so it cannot rot, and it shows its charts inline:
the saved file carries them (a reader sees them without running anything) and executing it
displays them again (`notebooks/execute.py` re-executes and saves it)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def images(nb) -> list[str]:
    """The source of every code cell that displays a PNG, one entry per image."""
    return [cell.source for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.output_type in ("display_data", "execute_result") and "image/png" in out.get("data", {})]


def test_saved_quickstart_shows_its_charts_inline():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # executed top to bottom in one go, none failed: the outputs are the code's own
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    shown = images(nb)
    assert len(shown) >= 2  # the equity / excess / drawdown panels and the daily RankIC
    assert any("excess" in src for src in shown) and any("rank_ic" in src for src in shown)
    assert not any("matplotlib.use('Agg')" in c.source for c in code)  # Agg draws nothing inline


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("STOCKFORMER_QUICKSTART_DIR", str(tmp_path / "out"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # the saved outputs must come back from this execution, not stay
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert (tmp_path / "out" / "equity.png").is_file()
    assert any((tmp_path / "out" / "runs").glob("*/metrics.json"))
    assert len(images(nb)) >= 2  # the charts are displayed, not only written to a file
