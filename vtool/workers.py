"""Worker threads kept for the life of the process, one pool per thread count, so that a
search on several threads does not wait for its threads to start (a fresh pool's second
thread began 2 ms late: a sixth of a 2,000-query GloVe search on two threads). The C calls
release the GIL (cffi), so the workers run in parallel."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()
_inside = threading.local()


_blas_controller = None


def blas_held_to(threads: int):
    """A context in which BLAS runs on `threads` threads: around work that our own threads
    split. OpenBLAS's idle workers spin for a while after each call, on the cores ours need:
    2,000 OPQ-rotated queries on two threads searched no faster than on one. The libraries
    are found once: a limit then costs 9 µs (threadpool_limits looks them up again, 0.3 ms)."""
    global _blas_controller
    with _lock:
        if _blas_controller is None:
            from threadpoolctl import ThreadpoolController

            _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=threads, user_api="blas")


# pieces a thread's share of rows is cut into when threads split them: a thread that starts
# late (a pool worker waking) or meets costlier rows takes fewer (GloVe's second half of
# queries takes 1.3x the first; halves left one thread idle)
PARTS_PER_THREAD = 4


def row_ranges(n: int, parts: int, multiple: int = 1, start: int = 0) -> list[tuple[int, int]]:
    """[a, b) ranges covering start..start+n in about `parts` pieces whose lengths are
    multiples of `multiple` (so a task reads the same batches a local pass would)."""
    step = -(-max(-(-n // max(parts, 1)), 1) // multiple) * multiple
    return [(a, min(start + n, a + step)) for a in range(start, start + n, step)]


def _pool(threads: int) -> ThreadPoolExecutor:
    with _lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix=f"vtool-{threads}")
        return _pools[threads]


def _marked(fn: Callable[[T], R]) -> Callable[[T], R]:
    def run(item: T) -> R:
        _inside.active = True
        try:
            return fn(item)
        finally:
            _inside.active = False
    return run


def map_threads(threads: int, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """fn over items on `threads` workers, results in order. Serial on one thread, for one
    item, and inside a worker (a task waiting on its own pool could wait forever)."""
    items = list(items)
    if threads <= 1 or len(items) <= 1 or getattr(_inside, "active", False):
        return [fn(item) for item in items]
    return list(_pool(threads).map(_marked(fn), items))
