"""map_threads: results in item order whichever worker ran an item; a call inside a worker
runs serially on that worker's thread (a task waiting on its own pool could wait forever)."""

from __future__ import annotations

import threading
import time

from vtool.workers import map_threads


def test_results_come_in_item_order():
    def work(i):
        time.sleep(0.001 * (i % 3))
        return i * i

    assert map_threads(3, work, range(40)) == [i * i for i in range(40)]


def test_a_call_inside_a_worker_runs_serially():
    def outer(i):
        inner = map_threads(4, lambda j: threading.get_ident(), range(5))
        assert inner == [threading.get_ident()] * 5  # on the thread running this item
        return i

    assert map_threads(2, outer, range(6)) == list(range(6))
