"""Memory maps faulted in ahead (memory.populate): the policy, and that data written through a
populated map reads back."""

from __future__ import annotations

import numpy as np

from vtool import memory
from vtool.io.atomic import open_memmap


class FakeMap:
    def __init__(self, fails: bool = False):
        self.calls, self.fails = [], fails

    def madvise(self, flag):
        self.calls.append(flag)
        if self.fails:
            raise OSError(22, "Invalid argument")  # a kernel before 5.14


def test_a_new_map_is_faulted_in_at_once_but_not_under_a_budget_nor_when_large(tmp_path):
    m = FakeMap()
    memory.populate(m, 1 << 20)
    assert m.calls == [memory.MADV_POPULATE_WRITE]
    m = FakeMap()
    memory.populate(m, memory.POPULATE_MAX + 1)  # past the cap: pages as they are stored
    assert m.calls == []
    with memory.limited(1 << 30):  # under a budget every page would be resident at once
        memory.populate(m, 1 << 20)
    assert m.calls == []
    memory.populate(FakeMap(fails=True), 1 << 20)  # refused by the kernel: nothing raised
    a = open_memmap(tmp_path / "a.npy", np.int64, (1000, 3))
    a[:] = np.arange(3000).reshape(1000, 3)
    a.flush()
    del a
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.arange(3000).reshape(1000, 3))
