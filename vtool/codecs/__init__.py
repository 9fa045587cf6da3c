"""Lossless id codecs, thin over the C core: what an index stores instead of 64-bit ids."""
