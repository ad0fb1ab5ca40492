"""Query latency of kb.search per mode, the query embedding left out: shared by the benchmarks'
search processes (retrieval.py, scale.py, pg_scale.py)."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np


def mode_latencies(kb: Any, questions: Sequence[str], modes: Sequence[str] = ("dense", "bm25", "hybrid"),
                   k: int = 5, warm: int = 5) -> dict[str, dict[str, Any]]:
    """{mode: {"p50", "p95" (ms), "parts" (mean ms of each timing but the query embedding)}}, after
    `warm` untimed searches a mode."""
    out: dict[str, dict[str, Any]] = {}
    for mode in modes:
        for q in questions[:warm]:
            kb.search(q, mode=mode, k=k)
        lat, parts = [], {}
        for q in questions:
            t = time.perf_counter()
            r = kb.search(q, mode=mode, k=k)
            lat.append((time.perf_counter() - t) * 1000 - r.timings_ms["embed_query"])
            for key, v in r.timings_ms.items():
                parts.setdefault(key, []).append(v)
        out[mode] = {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                     "parts": {name: float(np.mean(v)) for name, v in parts.items() if name != "embed_query"}}
    return out
