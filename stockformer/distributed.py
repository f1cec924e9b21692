"""Run named tasks in this process, in local worker processes or as Ray tasks.

A task is a picklable module-level function, its arguments and a name ("mlp seed 1 w02").
Each result reaches `on_done` in this process as soon as its task finishes, so the caller
writes it to disk then: a crash or a failed task never loses the finished ones. A failed task
does not stop the others; the failures are raised together at the end as one `TaskFailures`
line naming each task. Ray is the optional `ray` extra, imported only when an address is given.

`STOCKFORMER_FAIL_TASKS` (comma-separated fnmatch patterns of task names) makes the matching
tasks raise where they run: fault injection for the tests and for trying a cluster's recovery.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stockformer.errors import RunError, StockformerError

# under the progress logger: a failure shows as it happens beside the epoch lines (not with --quiet)
log = logging.getLogger("stockformer.progress.tasks")

FAIL_ENV = "STOCKFORMER_FAIL_TASKS"


class Shared:
    """An argument many tasks share (a feature set): stored once per value (Ray's object store,
    or one pickle file for local worker processes) instead of once per task."""

    def __init__(self, value: Any):
        self.value = value


@dataclass(frozen=True)
class Task:
    name: str
    fn: Callable
    args: tuple
    cpus: int = 1  # what one Ray task reserves (its torch threads)


@dataclass(frozen=True)
class Executor:
    """Where tasks run: `ray` an address ("auto", "local", "host:6379", "ray://host:10001"),
    else `workers` local processes (1: in this process, one after another)."""

    ray: str | None = None
    workers: int = 1


class TaskFailures(RunError):
    def __init__(self, failed: list[tuple[str, str]], total: int, hint: str):
        self.failed = [name for name, _ in failed]
        causes = "; ".join(f"{name}: {line}" for name, line in failed)
        done = total - len(failed)
        super().__init__(f"{len(failed)} of {total} tasks failed ({causes}); the {done} finished "
                         f"are saved{hint}")


def error_line(err: BaseException) -> str:
    """One line for a task's failure: the project's own message, else type and first line."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, StockformerError) else f"{type(err).__name__}: {text}".rstrip(": ")


def _injected_failure(name: str, *_args) -> None:
    raise RuntimeError(f"injected failure for {name} ({FAIL_ENV})")


def _with_injection(tasks: Sequence[Task]) -> list[Task]:
    patterns = [p.strip() for p in os.environ.get(FAIL_ENV, "").split(",") if p.strip()]
    return [replace(t, fn=_injected_failure, args=(t.name,))
            if any(fnmatch.fnmatchcase(t.name, p) for p in patterns) else t for t in tasks]


def run_tasks(tasks: Sequence[Task], on_done: Callable[[int, Any], None], executor: Executor,
              *, hint: str = "") -> None:
    """Run every task; `on_done(i, result)` in this process as task i finishes (in any order).

    A task that raises, or whose `on_done` raises, is reported by name at the end, after every
    other task has run. A lone task's own error is raised unchanged."""
    tasks = _with_injection(tasks)
    failed: list[tuple[int, BaseException]] = []

    def finish(i: int, result: Any = None, err: BaseException | None = None) -> None:
        if err is None:
            try:
                on_done(i, result)
                return
            except Exception as e:  # writing or assembling the result failed: that task failed
                err = e
        log.info("%s failed: %s", tasks[i].name, error_line(err))
        failed.append((i, err))

    if not tasks:
        return
    if executor.ray:
        _run_on_ray(tasks, finish, executor.ray)
    elif executor.workers > 1 and len(tasks) > 1:
        _run_in_processes(tasks, finish, executor.workers)
    else:
        for i, t in enumerate(tasks):
            try:
                result = t.fn(*(a.value if isinstance(a, Shared) else a for a in t.args))
            except Exception as e:
                finish(i, err=e)
            else:
                finish(i, result)
    if len(tasks) == 1 and failed:
        raise failed[0][1]
    if failed:
        failed.sort(key=lambda f: f[0])
        raise TaskFailures([(tasks[i].name, error_line(e)) for i, e in failed], len(tasks), hint)


# local worker processes ---------------------------------------------------------------------

_LOADED: dict[str, Any] = {}  # a worker process unpickles each shared file once


class _SharedFile:
    def __init__(self, path: str):
        self.path = path


def _call(fn: Callable, args: tuple) -> Any:
    resolved = []
    for a in args:
        if isinstance(a, _SharedFile):
            if a.path not in _LOADED:
                _LOADED.clear()  # only the current one: a worker holds one feature set at a time
                _LOADED[a.path] = pickle.loads(Path(a.path).read_bytes())
            a = _LOADED[a.path]
        resolved.append(a)
    return fn(*resolved)


def _run_in_processes(tasks: Sequence[Task], finish, workers: int) -> None:
    import multiprocessing as mp  # lazy: only the local-processes executor
    from concurrent.futures import ProcessPoolExecutor, as_completed  # lazy: same

    with tempfile.TemporaryDirectory(prefix="stockformer-shared-") as tmp:
        files: dict[int, _SharedFile] = {}

        def local(a):
            if not isinstance(a, Shared):
                return a
            if id(a.value) not in files:
                path = Path(tmp) / f"{len(files)}.pkl"
                path.write_bytes(pickle.dumps(a.value, protocol=5))
                files[id(a.value)] = _SharedFile(str(path))
            return files[id(a.value)]

        # spawned: no state shared with this process, so results match the in-process run
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_call, t.fn, tuple(local(a) for a in t.args)): i
                       for i, t in enumerate(tasks)}
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except Exception as e:
                    finish(futures[fut], err=e)
                else:
                    finish(futures[fut], result)


# Ray ----------------------------------------------------------------------------------------

def connect(address: str):
    """The ray module, connected to `address`; and whether this call started the connection
    (then the caller shuts it down). An already initialised Ray (a test's) is used as it is."""
    try:
        import ray  # lazy: optional ray extra
    except ImportError:
        raise RunError(f"--ray {address}: Ray is not installed (pip install 'stockformer[ray]')") from None
    if ray.is_initialized():
        return ray, False
    try:
        # "local" starts a private instance; "auto" or an address joins a running cluster
        ray.init(address=address, include_dashboard=False if address == "local" else None)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise RunError(f"--ray {address}: cannot connect to a Ray cluster ({error_line(e)})") from None
    return ray, True


def _run_on_ray(tasks: Sequence[Task], finish, address: str) -> None:
    ray, started = connect(address)
    try:
        remote: dict[int, Any] = {}
        stored: dict[int, Any] = {}
        refs: dict[Any, int] = {}

        def arg(a):
            if not isinstance(a, Shared):
                return a
            if id(a.value) not in stored:  # one copy in the object store, read zero-copy by workers
                stored[id(a.value)] = ray.put(a.value)
            return stored[id(a.value)]

        for i, t in enumerate(tasks):
            if id(t.fn) not in remote:
                remote[id(t.fn)] = ray.remote(t.fn)
            # Ray's default retries stay: they cover a lost worker or node, not a task's exception
            task = remote[id(t.fn)].options(num_cpus=t.cpus, name=t.name)
            refs[task.remote(*(arg(a) for a in t.args))] = i
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the task raised: report its own error
                    finish(refs[ref], err=e.cause if e.cause is not None else e)
                except ray.exceptions.RayError as e:  # a worker or node died
                    finish(refs[ref], err=e)
                else:
                    finish(refs[ref], result)
    finally:
        if started:
            ray.shutdown()
