"""vtool: build approximate-nearest-neighbour indexes offline, from plain files.

The Python API, in memory (the commands are file drivers over the same parts):

    index = vtool.train(x, "OPQ16,IVF1024,PQ16", metric="l2", seed=0)
    index.add(x, ids=None)
    D, I = index.search(q, k=10, nprobe=16)
    lims, D, I = index.range_search(q, radius)
    index.save("index.vti");  index = vtool.load("index.vti")
"""

__version__ = "0.1.0"

from vtool.errors import VtoolError  # noqa: E402
from vtool.index.index import Index, load, train  # noqa: E402

__all__ = ["Index", "VtoolError", "load", "train", "__version__"]
