"""Finding chunks: hybrid dense + BM25 retrieval, the docs-only gate and its calibration,
Chinese text processing, and evaluation (`kb eval`) with its question sets."""
