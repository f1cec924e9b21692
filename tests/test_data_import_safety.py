"""Import safety: unsafe symbols, atomic qlib writes, future-dated rows, what the report says."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from stockformer.cli import main
from stockformer.data.loaders import import_panel, read_qlib_dir, write_qlib_dir
from stockformer.data.store import load_meta
from stockformer.errors import DataError, ValidationError

HEADER = "date,symbol,open,high,low,close,volume\n"


def _csv(tmp_path: Path, rows: str, name: str = "p.csv", header: str = HEADER) -> Path:
    f = tmp_path / name
    f.write_text(header + rows)
    return f


@pytest.mark.parametrize("symbol", ["../../etc/passwd", "a/b", "..", "a\\b", "x\ty"])
def test_unsafe_symbols_are_refused_at_import(tmp_path: Path, symbol: str) -> None:
    f = _csv(tmp_path, f'2024-01-02,OK,1,1,1,1,1\n2024-01-02,"{symbol}",1,1,1,1,1\n')
    with pytest.raises(ValidationError) as err:
        import_panel(f)
    msg = str(err.value)
    assert "\n" not in msg and "symbol" in msg and repr(symbol) in msg


def test_unsafe_symbol_cli_one_line_nothing_written(tmp_path: Path, capsys) -> None:
    f = _csv(tmp_path, "2024-01-02,../../evil,1,1,1,1,1\n")
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "'../../evil'" in err
    assert not (tmp_path / "ds").exists()


def test_write_qlib_dir_never_writes_outside_its_folder(tmp_path: Path) -> None:
    panel = pl.DataFrame({"date": [date(2024, 1, 2)], "symbol": ["../../escaped"], "open": [1.0],
                          "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]})
    target = tmp_path / "a" / "b" / "qlib"
    with pytest.raises(DataError, match="escaped"):
        write_qlib_dir(panel, target)
    assert not (tmp_path / "a" / "escaped").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_write_qlib_dir_refuses_symbols_equal_up_to_case(tmp_path: Path) -> None:
    # qlib keeps one lower-cased folder per code: two such symbols would overwrite each other
    panel = pl.DataFrame({"date": [date(2024, 1, 2)] * 2, "symbol": ["ab", "AB"], "open": [1.0, 2.0],
                          "high": [1.0, 2.0], "low": [1.0, 2.0], "close": [1.0, 2.0],
                          "volume": [1.0, 1.0]})
    with pytest.raises(DataError, match="differ only in case"):
        write_qlib_dir(panel, tmp_path / "q")


def test_write_qlib_dir_writes_every_file_atomically(tmp_path: Path, synth_panel, monkeypatch) -> None:
    renamed: set[Path] = set()
    real_replace = os.replace

    def recording_replace(src, dst):
        renamed.add(Path(dst).resolve())
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    out = tmp_path / "qlib"
    panel = synth_panel.filter(pl.col("symbol").is_in(synth_panel["symbol"].unique().sort()[:3].implode()))
    write_qlib_dir(panel, out)
    written = {p.resolve() for p in out.rglob("*") if p.is_file()}
    assert written and written == renamed  # each file arrived by a rename of a finished temp file
    assert read_qlib_dir(out)["symbol"].n_unique() == 3


def test_future_rows_refused_unless_allowed(tmp_path: Path) -> None:
    f = _csv(tmp_path, "2024-01-02,A,1,1,1,1,1\n2099-01-02,A,1,1,1,1,1\n2099-01-05,B,1,1,1,1,1\n")
    with pytest.raises(ValidationError) as err:
        import_panel(f)
    msg = str(err.value)
    assert "\n" not in msg and "after today" in msg and "2 rows" in msg and "2099-01-02 A" in msg
    panel, _ = import_panel(f, allow_future=True)
    assert panel.height == 3


def test_today_is_not_the_future(tmp_path: Path) -> None:
    today = date.today()
    f = _csv(tmp_path, f"{today - timedelta(days=1)},A,1,1,1,1,1\n{today},A,1,1,1,1,1\n")
    panel, _ = import_panel(f)
    assert panel["date"].max() == today


def test_future_rows_cli_hint_and_flag(tmp_path: Path, capsys) -> None:
    f = _csv(tmp_path, "2024-01-02,A,1,1,1,1,1\n2099-01-02,A,1,1,1,1,1\n")
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "2099-01-02 A" in err and "--allow-future" in err
    assert not (tmp_path / "ds").exists()
    assert main(["data", "validate", str(f)]) == 2
    capsys.readouterr()
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds"), "--allow-future"]) == 0
    assert load_meta(tmp_path / "ds")["end"] == "2099-01-02"


def test_report_says_prices_taken_as_adjusted_and_counts_zero_volume(tmp_path: Path, capsys) -> None:
    f = _csv(tmp_path, "2024-01-02,A,1,1,1,1,0\n2024-01-03,A,1,1,1,1,5\n2024-01-03,B,1,1,1,1,0\n")
    _, report = import_panel(f)
    assert report.zero_volume_rows == 2
    assert "taken as already adjusted" in report.adjustment
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds")]) == 0
    text = capsys.readouterr().out
    assert "taken as already adjusted" in text
    assert "zero-volume rows" in text and "2" in text.split("zero-volume rows")[1].splitlines()[0]
    meta = load_meta(tmp_path / "ds")["report"]
    assert meta["zero_volume_rows"] == 2 and "adjusted" in meta["adjustment"]


def test_report_names_the_adjustment_used(tmp_path: Path) -> None:
    f = _csv(tmp_path, "2024-01-02,A,2,2,2,2,10,1\n", header=HEADER.strip() + ",adj close\n")
    _, report = import_panel(f)
    assert "adj close" in report.adjustment.lower() and report.zero_volume_rows == 0
    f = _csv(tmp_path, "2024-01-02,A,2,2,2,2,10,1\n", "f.csv", header=HEADER.strip() + ",adj_factor\n")
    assert "adj_factor" in import_panel(f)[1].adjustment
