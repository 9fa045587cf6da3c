"""vtool: build approximate-nearest-neighbour indexes offline, from plain files."""

__version__ = "0.1.0"
