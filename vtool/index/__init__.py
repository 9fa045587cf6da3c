"""Index spec parsing, the .vti container, and the index structures (Flat, IVF)."""
