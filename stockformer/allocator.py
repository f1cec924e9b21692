"""Run the training commands under tcmalloc when the machine has it.

glibc's malloc keeps the freed [batch, T, N, d] activation blocks of a CPU training step in its
heap, fragmented (the paper configuration peaks at 2.0 GiB RSS with glibc, 1.0 GiB with tcmalloc),
and returning them to the OS instead makes every step page-fault its memory back (2x slower).
tcmalloc reuses them: less memory and faster steps (docs/BENCHMARKS.md, "Model"). An allocator
must be chosen before the process starts, so `stockformer train|walkforward|compare|demo`
re-executes itself once with LD_PRELOAD set. STOCKFORMER_ALLOCATOR=system turns this off; without
the library (Debian/Ubuntu: `apt-get install libtcmalloc-minimal4`) nothing changes.
"""

from __future__ import annotations

import glob
import os
import sys

TRAINING_COMMANDS = frozenset({"train", "walkforward", "compare", "demo"})
_LIB_PATTERNS = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/lib/libtcmalloc_minimal.so.4",
    "/usr/local/lib/libtcmalloc_minimal.so*",
)
_MARK = "STOCKFORMER_ALLOCATOR_SET"


def find_tcmalloc() -> str | None:
    for pattern in _LIB_PATTERNS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def tcmalloc_env(argv: list[str], environ: dict[str, str]) -> dict[str, str] | None:
    """The environment to re-execute `argv` under tcmalloc with, or None to run as we are."""
    if environ.get("STOCKFORMER_ALLOCATOR", "auto") == "system" or environ.get(_MARK):
        return None
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in TRAINING_COMMANDS or "tcmalloc" in environ.get("LD_PRELOAD", ""):
        return None
    lib = find_tcmalloc()
    if lib is None:
        return None
    preload = ":".join(p for p in (lib, environ.get("LD_PRELOAD", "")) if p)
    return {**environ, "LD_PRELOAD": preload, _MARK: "1"}


def reexec_under_tcmalloc(argv: list[str]) -> None:
    """Replace this process with the same command under tcmalloc when that applies."""
    env = tcmalloc_env(argv, dict(os.environ))
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "stockformer.cli", *argv], env)
