"""Quantizers (k-means, PQ, fast-scan PQ, OPQ, SQ8/SQ4/fp16/bf16, RQ): train, encode, decode.
Nothing here knows about lists; vtool/index composes them."""
