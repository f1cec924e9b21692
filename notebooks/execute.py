"""Execute a notebook in place so that the saved file carries its outputs (charts inline).

    .venv/bin/python notebooks/execute.py [notebooks/quickstart.ipynb]

The quickstart writes its data, cache and run into a temporary folder (removed afterwards),
so executing it leaves nothing behind but the notebook's outputs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

from stockformer.io import write_text

NOTEBOOK = Path(__file__).resolve().parent / "quickstart.ipynb"


def execute(path: Path, timeout: int = 900) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="quickstart-") as work:
        os.environ["STOCKFORMER_QUICKSTART_DIR"] = str(Path(work) / "out")
        # no timing metadata: re-executing an unchanged notebook changes only what it computes
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": work}})
        client.execute()
    return nb


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else NOTEBOOK
    if not path.is_file():
        print(f"error: {path}: notebook not found", file=sys.stderr)
        return 2
    try:
        nb = execute(path)
    except nbclient.exceptions.CellExecutionError as err:  # the notebook stays as it was
        print(f"error: {path}: a cell failed: {str(err).strip().splitlines()[-1]}", file=sys.stderr)
        return 1
    write_text(path, nbformat.writes(nb) + "\n")
    print(f"{path}: executed, outputs saved")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
