"""ann-benchmarks HDF5 files (`.hdf5` / `.h5`): datasets `train` (base), `test` (queries),
`neighbors` and `distances` (ground truth), attribute `distance` (euclidean, angular, ...).
h5py is the optional extra `vtool[hdf5]`; without it one line says so.

A dataset reads like any vector file: sliced batch by batch, rows fetched by index, nothing
loaded whole. `angular` data are searched with metric cosine (vectors scaled to unit length,
inner product inside); commands that take their metric from the file say so.
"""

from __future__ import annotations

import numpy as np

from vtool.errors import VtoolError

BASE, QUERIES = "train", "test"  # the datasets a command reads when not told (--column)
METRICS = {"euclidean": "l2", "angular": "cosine", "dot": "ip", "inner_product": "ip"}


def h5py():
    try:
        import h5py
    except ImportError:
        raise VtoolError("HDF5 files need h5py: pip install 'vtool[hdf5]'") from None
    return h5py


def open_file(path: str):
    from vtool.io import remote

    try:
        return h5py().File(remote.open_url(path) if remote.is_url(path) else path, "r")
    except OSError as e:
        raise VtoolError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0]})") from None


def dataset(path: str, name: str):
    """The named dataset of an HDF5 file, checked to be 2-d."""
    f = open_file(path)
    if name not in f:
        raise VtoolError(f"{path}: no dataset {name!r} (it has {', '.join(sorted(f.keys())) or 'none'}); "
                         "name one with --column")
    data = f[name]
    if len(data.shape) != 2:
        raise VtoolError(f"{path}: dataset {name!r} has shape {data.shape}, not (n, d)")
    return data


def metric_of(path: str) -> str | None:
    """The vtool metric an ann-benchmarks file names in its `distance` attribute, or None."""
    f = open_file(path)
    distance = f.attrs.get("distance")
    if distance is None:
        return None
    distance = distance.decode() if isinstance(distance, bytes) else str(distance)
    if distance not in METRICS:
        raise VtoolError(f"{path}: distance {distance!r}; vtool searches {', '.join(METRICS)}")
    return METRICS[distance]


def read_ground_truth(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(ids, distances or None) from the `neighbors` (and `distances`) datasets."""
    f = open_file(path)
    if "neighbors" not in f:
        raise VtoolError(f"{path}: no 'neighbors' dataset: not ann-benchmarks ground truth")
    ids = np.asarray(f["neighbors"], dtype=np.int64)
    dist = np.asarray(f["distances"], dtype=np.float32) if "distances" in f else None
    if dist is not None and dist.shape != ids.shape:
        raise VtoolError(f"{path}: 'distances' {dist.shape} do not match 'neighbors' {ids.shape}")
    return ids, dist
