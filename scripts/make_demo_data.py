"""Rebuild the bundled demo dataset from ../shared/data/glove-50-l2 (run once; output is committed).

20,000 base vectors and 500 queries drawn at random (seed 2026) from the shared GloVe set.
"""
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[2] / "shared" / "data" / "glove-50-l2"
DST = Path(__file__).resolve().parent / "demo_data" / "glove-50-20k"

rng = np.random.default_rng(2026)
base = np.load(SRC / "base.npy", mmap_mode="r")
queries = np.load(SRC / "queries.npy", mmap_mode="r")
DST.mkdir(parents=True, exist_ok=True)
np.save(DST / "base.npy", np.ascontiguousarray(base[np.sort(rng.choice(len(base), 20_000, replace=False))]))
np.save(DST / "queries.npy", np.ascontiguousarray(queries[np.sort(rng.choice(len(queries), 500, replace=False))]))
