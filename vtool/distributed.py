"""Running `add`, `gt` and `search` on a Dask cluster (`--dask`): connecting to one or starting
a LocalCluster, mapping tasks with a progress bar, and turning a failed cluster into one
line. What a task computes lives with its command; this module only schedules.

dask.distributed is the optional extra `vtool[dask]`. Tasks are module-level functions, so
workers import vtool and unpickle nothing but arrays and plain arguments. A worker that dies
mid-task has its task rerun elsewhere by Dask (`distributed.scheduler.allowed-failures`); a
task that keeps killing workers ends the command with one line and no output file.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from vtool import log
from vtool.errors import EXIT_RUNTIME, VtoolError

KILL_HOOK = "VTOOL_TEST_KILL_WORKER"  # tests: "always", or "once:DIR" (the first task to see DIR kills its worker)


def dask_distributed():
    try:
        import distributed
    except ImportError:
        raise VtoolError("--dask needs dask.distributed: pip install 'vtool[dask]'") from None
    return distributed


@dataclass(frozen=True)
class DaskOptions:
    """How a command uses Dask: the scheduler's address (None: a LocalCluster of `workers`
    processes), and `scratch`, a directory every worker and the client share (None: task
    results come back through Dask)."""

    scheduler: str | None = None
    workers: int | None = None
    scratch: str | None = None
    tasks_per_worker: int = 4


@dataclass
class Cluster:
    """A connected client; `map` runs tasks on it."""

    client: Any
    workers: int
    dashboard: str | None

    def map(self, fn: Callable, tasks: list[tuple], label: str, sizes: list[int] | None = None,
            **shared) -> Iterator[tuple[int, Any]]:
        """Yield (task number, result) as tasks finish; fn(*task, **shared) on a worker. shared
        values (large arrays: the queries of gt) are one task each, so a worker fetches them
        once, and the scheduler can make them again when the worker holding them dies (data
        scattered to workers would be lost with them)."""
        distributed = dask_distributed()
        tag = f"{label.replace(' ', '-')}-{os.getpid()}-{id(tasks)}"
        held = {name: self.client.submit(_shared_value, value, pure=False, key=f"vtool-shared-{name}-{tag}")
                for name, value in shared.items()}
        futures = [self.client.submit(_run_task, fn, task, held, pure=False, key=f"vtool-{tag}-{i}")
                   for i, task in enumerate(tasks)]
        number = {f.key: i for i, f in enumerate(futures)}
        sizes = sizes or [1] * len(tasks)
        try:
            with log.progress(f"{label} (dask)", sum(sizes)) as advance:
                for future in distributed.as_completed(futures):
                    i = number[future.key]
                    result = future.result()
                    future.release()
                    advance(sizes[i])
                    yield i, result
        except VtoolError:
            raise
        except distributed.KilledWorker as e:
            raise VtoolError(f"--dask: a worker died on every try of a {label} task ({e.args[0] if e.args else e}); "
                             "nothing was written", EXIT_RUNTIME) from None
        except (OSError, TimeoutError, distributed.client.FutureCancelledError) as e:
            raise VtoolError(f"--dask: lost the cluster during {label}: {e}", EXIT_RUNTIME) from None
        finally:
            self.client.cancel([f for f in futures if not f.done()] + list(held.values()))


@contextlib.contextmanager
def cluster(options: DaskOptions) -> Iterator[Cluster]:
    """A client of the scheduler at `scheduler`, or of a LocalCluster of `workers` processes
    (one thread each) started here and stopped on exit; its dashboard address goes to stderr."""
    distributed = dask_distributed()
    scheduler, workers = options.scheduler, options.workers
    if options.scratch is not None and not os.path.isdir(options.scratch):
        raise VtoolError(f"--scratch {options.scratch}: not a directory")
    if workers is not None and workers < 1:
        raise VtoolError("--workers must be at least 1")
    if scheduler:
        if workers is not None:
            raise VtoolError("--workers sizes a local cluster; a --scheduler has the workers it has")
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise VtoolError(f"--scheduler {scheduler}: cannot connect ({e})", EXIT_RUNTIME) from None
        with client:
            n = len(client.scheduler_info().get("workers", {}))
            if not n:
                raise VtoolError(f"--scheduler {scheduler}: the cluster has no workers")
            yield Cluster(client, n, client.dashboard_link)
        return
    from vtool import _native

    n = workers or _native.default_threads()
    with _quiet_dask(), distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                 dashboard_address=":0", silence_logs=logging.CRITICAL) as local, \
            distributed.Client(local) as client:
        link = client.dashboard_link
        if not log.is_quiet():
            print(f"vtool: dask LocalCluster of {n} workers; dashboard {link}", file=sys.stderr)
        yield Cluster(client, n, link)


@contextlib.contextmanager
def _quiet_dask():
    """Dask logs every worker start and stop, and the tracebacks of a worker that died, on
    stderr; a command's stderr is ours (the failure, if it matters, is our one line)."""
    loggers = [logging.getLogger(name) for name in ("distributed", "bokeh", "tornado")]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before):
            lg.setLevel(level)


def _shared_value(value):
    return value


def _run_task(fn: Callable, task: tuple, shared: dict) -> Any:
    hook = os.environ.get(KILL_HOOK)
    if hook == "always" or (hook and hook.startswith("once:") and _first_to_claim(hook[5:])):
        os._exit(17)  # a worker process dying mid-task, as an OOM kill would
    return fn(*task, **shared)


def _first_to_claim(directory: str) -> bool:
    try:
        fd = os.open(os.path.join(directory, "killed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@functools.lru_cache(maxsize=4)
def _cached_index(path: str, mtime_ns: int, size: int, verify: bool):
    from vtool.index.index import load_index

    return load_index(path, verify=verify)


def worker_index(path: str, verify: bool):
    """The index at path, opened (memory-mapped) once per worker process and file version."""
    st = os.stat(path)
    return _cached_index(os.path.abspath(path), st.st_mtime_ns, st.st_size, verify)


def worker_path(path: str) -> str:
    """A path a worker resolves as the client does (workers may start in another directory);
    URLs as they are."""
    return path if "://" in path else os.path.abspath(path)
