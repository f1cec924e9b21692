from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from stockformer.cli import main
from stockformer.data.store import load_meta, load_panel


def test_synth_info_validate(tmp_path: Path, capsys) -> None:
    out = tmp_path / "synth"
    assert main(["data", "synth", "--stocks", "12", "--days", "60", "--seed", "3",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "stocks" in text and "12" in text and "2016-01-04" in text
    meta = load_meta(out)
    assert meta["synth"] == {"stocks": 12, "days": 60, "seed": 3}
    assert load_panel(out)["symbol"].n_unique() == 12
    assert main(["data", "info", str(out)]) == 0
    assert meta["fingerprint"][:16] in capsys.readouterr().out
    assert main(["data", "validate", str(out)]) == 0
    assert "valid" in capsys.readouterr().out


def test_import_csv_reports_repairs(tmp_path: Path, capsys) -> None:
    f = tmp_path / "p.csv"
    f.write_text("date,symbol,open,high,low,close,volume\n"
                 "2024-01-02,A,0,1.2,0.9,1.1,100\n2024-01-03,A,1.1,1.3,1.0,1.2,50\n")
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds")]) == 0
    text = capsys.readouterr().out
    assert "repaired cells" in text and "open_from_close 1" in text
    assert load_meta(tmp_path / "ds")["report"]["repaired"]["open_from_close"] == 1


def test_errors_are_one_line_exit_2(tmp_path: Path, capsys) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("date,symbol,open,high,low,close,volume\n"
                 "2024-01-02,A,1,1.2,0.9,1.1,-100\n")
    assert main(["data", "validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {f}: negative or infinite volume (1 rows, e.g. 2024-01-02 A)"
    assert main(["data", "info", str(tmp_path / "nope")]) == 2
    assert "no such dataset" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_inverted_high_low_hint_and_flag(tmp_path: Path, capsys) -> None:
    f = tmp_path / "inv.csv"
    f.write_text("date,symbol,open,high,low,close,volume\n2024-01-02,A,1,0.9,1.2,1.1,100\n")
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds")]) == 2
    assert "--repair-inverted" in capsys.readouterr().err
    assert main(["data", "import", str(f), "--out", str(tmp_path / "ds"),
                 "--repair-inverted"]) == 0
    assert load_panel(tmp_path / "ds")["high"].item() == 1.2


@pytest.mark.parametrize("cmd", ["synth", "import", "validate", "info", "download"])
def test_help(cmd: str, capsys) -> None:
    assert main(["data", cmd, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


@pytest.mark.shared
def test_acceptance_import_real_data(shared_data: Path, tmp_path: Path, capsys) -> None:
    raw = shared_data / "stocknet88" / "raw"
    assert main(["data", "import", str(raw), "--out", str(tmp_path / "sn")]) == 0
    assert load_meta(tmp_path / "sn")["report"]["dropped"]["null_rows"] >= 3
    src = shared_data / "nasdaq1026" / "prices.parquet"
    assert main(["data", "import", str(src), "--out", str(tmp_path / "nd"),
                 "--repair-inverted"]) == 0
    assert "open_from_close 2,314" in capsys.readouterr().out
    back = load_panel(tmp_path / "nd")
    original = pl.read_parquet(src)
    assert back.height == original.height
    # lossless where nothing was repaired: the close column is untouched
    joined = original.with_columns(pl.col("date").str.to_date()).join(
        back, on=["date", "symbol"], suffix="_b")
    assert (joined["close"] == joined["close_b"]).all()
