"""Storage of a knowledge base, and the one concurrency model every part of KB Studio follows.

Layout of `<data_dir>/kbs/<name>/`:

    manifest.json    name, uuid, embedder, dim, format version: what makes the folder a knowledge base
    kb.sqlite        THE TRUTH: documents, chunks, vectors, meta (generation, uuid, embedder, dim), changelog
                     + (format 3, kb/store/curation.py) curation, edits, questions, activity: hand
                     edits and disables kept through re-chunking, their log, the personal eval set, the digest
    index.faiss      derived: the vectors, for search          } stamped in index.json with the
    bm25/bm25.npz    derived: the keyword index                } generation they hold and their sha256
    files/           stored originals by content (<sha256><ext>), each with a sidecar naming its documents
    chats.sqlite     conversations (kb/llm/sessions.py)
    .lock            the writer lock

## The concurrency model (per knowledge base; threads and processes alike)

1. **One writer.** Every write (ingest, delete, reindex, rebuild, repair, removing the knowledge base,
   and any later write such as chunk edits or folder sync) runs inside `KBStore.writer()`, which holds
   the writer lock (kb/store/lock.py: a per-process thread lock, then `flock` on `.lock`) for the
   whole operation. A second writer waits, and says so; nothing writes outside the lock.
2. **Commits.** A write commits in SQLite transactions (WAL). Each transaction bumps `generation` and
   records the chunk row ids it added and removed in `changelog`. The commit is the only commit
   point: a write is reported (`added`, `deleted`) only after its transaction committed. Row ids are
   never reused (AUTOINCREMENT), so a row id always means the same chunk.
3. **Readers never block on the writer and never see half a write.** A read opens a SQLite read
   transaction (`KBStore.read()`), which sees one committed generation G for as long as it lasts, and
   takes the in-memory index snapshot of exactly G (kb/store/snapshot.py). Snapshots are immutable:
   the next one is built beside the old (old + changelog, or the stamped index files, or the
   database) and swapped in whole; searches running on the old one finish on it.
4. **Identity.** Before any read or write a store checks that its database file is still the one in
   the folder: a knowledge base deleted (or deleted and re-created) under a long-lived process raises
   `KnowledgeBaseNotFound("kb.deleted")`; one repaired in place (same uuid, new file) is reopened.
   Nothing ever writes into a database that was replaced.
5. **Derived files** are written by the writer at the end of its operation, aside and renamed, and
   stamped with their generation and checksums; a stale or damaged one is never used (it is rebuilt).
6. **Lock order:** the writer lock, then SQLite's. No thread waits for the writer lock while holding
   anything else, and readers take no lock but SQLite's own read snapshot.

`kb/store/integrity.py` checks every file of a knowledge base against all of this and repairs what can
be repaired from what is left (the database, the stored originals).
"""
from kb.store.files import Originals, sha256_file, utc_now, write_atomic
from kb.store.snapshot import Indexes, IndexSnapshot
from kb.store.sqlite import (DB_NAME, FORMAT_VERSION, KBStore, ReadView, Writer, assess_database, read_manifest,
                     write_manifest)

__all__ = ["KBStore", "ReadView", "Writer", "Indexes", "IndexSnapshot", "Originals", "read_manifest",
           "write_manifest", "assess_database", "write_atomic", "utc_now", "sha256_file", "FORMAT_VERSION", "DB_NAME"]
