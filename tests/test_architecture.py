"""The layering rule of docs/ARCHITECTURE.md, checked on the source: imports only run downward.

Every `import` / `from ... import` of a stockformer module is read with `ast`, at module level
and inside functions alike, and its stage compared with the importer's. An import from a lower
stage to a higher one (a back-edge) fails the test, naming the file, line and both modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stockformer"

# lowest first; a module may import its own stage and any stage before it
STAGES = ("ground", "signal", "rundir", "data", "factors", "graph", "model", "accel", "train",
          "tune", "backtest", "jobs", "dashboard", "cli")
# modules outside a stage package
GROUND_MODULES = {"stockformer", "stockformer.io", "stockformer.errors", "stockformer.config",
                  "stockformer.distributed"}
CLI_MODULES = {"stockformer.cli", "stockformer.pipeline_commands", "stockformer.allocator"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str:
    """The stage a stockformer module belongs to; a stage's commands.py is part of the CLI
    (cli.py assembles them: thin shells that may drive any stage)."""
    if module in GROUND_MODULES:
        return "ground"
    if module in CLI_MODULES or module.endswith(".commands"):
        return "cli"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in STAGES:
        return parts[1]
    raise AssertionError(f"{module}: in no stage; add it to STAGES here and to the layering "
                         "rule in docs/ARCHITECTURE.md")


def known_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def imported_modules(node: ast.AST, importer: str, is_package: bool, known: set[str]) -> list[str]:
    """The stockformer modules one import statement reaches (`from pkg import mod` names mod)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "stockformer"]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: resolved against the importer's package
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    if base.split(".")[0] != "stockformer":
        return []
    return sorted({f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names})


def back_edges() -> list[str]:
    known = known_modules()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        rank = STAGES.index(stage_of(importer))
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):  # every statement: module level, functions, TYPE_CHECKING
            for target in imported_modules(node, importer, path.name == "__init__.py", known):
                if STAGES.index(stage_of(target)) > rank:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {importer} "
                                 f"({stage_of(importer)}) imports {target} ({stage_of(target)})")
    return found


def test_no_import_runs_from_a_lower_stage_to_a_higher_one():
    edges = back_edges()
    assert not edges, f"{len(edges)} back-edge(s):\n" + "\n".join(edges)


def test_every_module_belongs_to_a_stage():
    for module in known_modules():
        assert stage_of(module) in STAGES


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    """The reader itself can fail: a lazy import inside a function and a relative one are seen."""
    source = ("def f():\n    from stockformer.train.trainer import fit\n"
              "from ..jobs import job\n")
    tree = ast.parse(source)
    known = {"stockformer.jobs.job", "stockformer.train.trainer"}
    reached = [m for node in ast.walk(tree)
               for m in imported_modules(node, "stockformer.signal.metrics", False, known)]
    assert sorted(reached) == ["stockformer.jobs.job", "stockformer.train.trainer"]
    assert all(STAGES.index(stage_of(m)) > STAGES.index("signal") for m in reached)


@pytest.mark.parametrize("module, stage", [
    ("stockformer.config", "ground"), ("stockformer.signal.metrics", "signal"),
    ("stockformer.rundir.info", "rundir"), ("stockformer.factors.commands", "cli"),
    ("stockformer.backtest.engine", "backtest"), ("stockformer.pipeline_commands", "cli"),
])
def test_stage_of(module, stage):
    assert stage_of(module) == stage


def test_the_documented_order_is_the_checked_one():
    """docs/ARCHITECTURE.md states the order this test enforces, in the same words."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    match = re.search(r"Stages, lowest first: (.+?)\n\n", text, re.S)  # up to the blank line
    assert match, "docs/ARCHITECTURE.md: the 'Stages, lowest first: ...' paragraph is missing"
    documented = tuple(re.findall(r"`([a-z]+)`", match.group(1)))
    assert documented == STAGES
