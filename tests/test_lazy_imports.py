"""An import of a stockformer module inside a function says why it is not at module level.

Internal imports belong at the top of the module (cycles are ruled out by the layering test);
a function-level one is kept only for a reason written on its line (or on the comment line just
above its block of imports): `# lazy: torch`, `# lazy: streamlit`, `# lazy: keeps --help fast`, ...
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stockformer"
MARK = "# lazy:"


def _is_internal(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "stockformer" for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").split(".")[0] == "stockformer"
    return False


def unexplained_lazy_imports(source: str, name: str = "<source>") -> list[str]:
    """`name:line` of each function-level internal import with no `# lazy:` reason."""
    lines = source.splitlines()
    found = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if not _is_internal(node):
                continue
            span = lines[node.lineno - 1: node.end_lineno]
            above = node.lineno - 2  # the comment over a block of imports covers the block
            while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
                above -= 1
            above = lines[above].strip() if above >= 0 else ""
            if not any(MARK in line for line in span) and not above.startswith(MARK):
                found.append(f"{name}:{node.lineno}")
    return sorted(set(found))  # nested functions are walked twice


def test_every_function_level_internal_import_gives_its_reason():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        missing += unexplained_lazy_imports(path.read_text(encoding="utf-8"),
                                            str(path.relative_to(PACKAGE.parent)))
    assert not missing, "function-level imports without a '# lazy: <reason>':\n" + "\n".join(missing)


def test_the_check_sees_a_bare_lazy_import_and_accepts_a_reason():
    bare = "def f():\n    from stockformer.io import atomic_path\n    return atomic_path\n"
    assert unexplained_lazy_imports(bare) == ["<source>:2"]
    relative = "def f():\n    from .io import atomic_path\n"
    assert unexplained_lazy_imports(relative) == ["<source>:2"]
    inline = "def f():\n    from stockformer.train import trainer  # lazy: torch\n"
    above = "def f():\n    # lazy: torch\n    from stockformer.train import trainer\n"
    third_party = "def f():\n    import torch\n"
    module_level = "from stockformer.io import atomic_path\n"
    block = "def f():\n    # lazy: torch\n    import torch\n    from stockformer.train import trainer\n"
    for ok in (inline, above, block, third_party, module_level):
        assert unexplained_lazy_imports(ok) == []
