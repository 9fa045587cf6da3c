"""What a file holds: the library behind `vtool info`."""

from __future__ import annotations

import os

import numpy as np

from vtool.index.container import MAGIC, VtiFile
from vtool.io.inputs import check_input_file, shown
from vtool.io.vectors import open_vectors


def describe(path: str, verify: bool = True) -> dict:
    path = check_input_file(path)
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head == MAGIC or path.endswith(".vti"):
        return describe_index(path, verify)
    vf = open_vectors(path)
    return {"file": shown(path), "type": "vectors", "format": vf.format, "rows": vf.n, "dim": vf.d,
            "dtype": str(vf.dtype), "bytes": os.path.getsize(path)}


def describe_index(path: str, verify: bool = True) -> dict:
    from vtool.index.index import load_index

    f = VtiFile(path)
    if verify:
        f.verify()
    index = load_index(path, verify=False)
    sizes = index.list_sizes
    out = {"file": shown(path), "type": index.header["kind"], "spec": str(index.spec), "dim": index.d,
           "metric": index.metric, "ntotal": index.ntotal, "nlist": index.nlist,
           "id_codec": index.header.get("id_codec", "int64"),
           "format_version": f.header.get("format_version", 1), "bytes": os.path.getsize(path),
           "sections": f.section_sizes(), "vtool_version": index.header.get("vtool_version"),
           "provenance": index.header.get("provenance", {}), "checksums_verified": verify}
    if index.ntotal:
        out["id_bits_per_vector"] = index.id_codec.bits() / index.ntotal
        graph = index.structure.describe()
        if graph:
            out["graph"] = graph
        else:
            out["list_sizes"] = list_size_summary(sizes)
    return out


def list_size_summary(sizes: np.ndarray, bins: int = 8) -> dict:
    """Min/max/mean and a log-spaced histogram: IVF balance at a glance."""
    edges = np.unique(np.concatenate([[0], np.geomspace(1, max(int(sizes.max()), 1) + 1, bins).astype(np.int64)]))
    counts, _ = np.histogram(sizes, bins=edges)
    return {"min": int(sizes.min()), "max": int(sizes.max()), "mean": float(sizes.mean()),
            "std": float(sizes.std()), "empty": int((sizes == 0).sum()),
            "histogram": [{"from": int(a), "to": int(b) - 1, "lists": int(c)}
                          for a, b, c in zip(edges[:-1], edges[1:], counts)]}
