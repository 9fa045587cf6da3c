"""Quantizers: k-means now; PQ, OPQ, SQ and RQ later. Nothing here knows about lists."""
