"""The index and its parts: spec parser, registry, structures, code stores, refiner, .vti container."""
