"""Index files written before the index was composed of parts still load and search the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vtool.index.index import load_index
from vtool.io.results import read_results

OLD = Path(__file__).resolve().parents[1] / "data" / "v0.1.0"


@pytest.mark.parametrize("name", ["IVF8_PQ4", "IVF8_PQ4x4fs_RFlat", "OPQ4_IVF8_SQ8", "IVF8_PQ4.roc_ans"])
def test_files_of_vtool_0_1_0_search_as_they_did(name):
    index = load_index(str(OLD / f"{name}.vti"))
    queries = np.load(OLD / "queries.npy")
    want_ids, want_dist = read_results(str(OLD / f"{name}.results.npz"))
    dist, ids = index.search(queries, 5, nprobe=4)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-6)
