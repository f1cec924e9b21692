import pytest

from stockformer.io import atomic_path, write_json, write_text


def test_atomic_write_replaces(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_crash_before_rename_keeps_old_file(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    target = write_text(tmp_path / "p.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)


def test_read_json_one_line_errors(tmp_path):
    from stockformer.errors import DataError
    from stockformer.io import read_json

    write_json(tmp_path / "ok.json", {"a": 1})
    assert read_json(tmp_path / "ok.json", DataError, kind=dict) == {"a": 1}
    with pytest.raises(DataError, match=r"nope\.json: gone"):
        read_json(tmp_path / "nope.json", DataError, "gone")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match="not valid JSON"):
        read_json(tmp_path / "bad.json", DataError)
    with pytest.raises(DataError, match="expected a JSON list"):
        read_json(tmp_path / "ok.json", DataError, kind=list)
