"""The embedded backend (kb/store/base.py Backend): knowledge bases as folders under `<data_dir>/kbs/`,
SQLite + FAISS, exactly as before the interface was written down (kb/store/sqlite.py, snapshot.py)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from kb.errors import KnowledgeBaseNotFound
from kb.types import CheckReport, KBInfo
from kb.store.snapshot import Indexes
from kb.store.sqlite import DB_NAME, KBStore


class SQLiteBackend:
    kind = "sqlite"

    def __init__(self, root: Path):
        self.root = root

    def folder(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        folder = self.folder(name)
        return (folder / "manifest.json").exists() or (folder / DB_NAME).exists()

    def not_found(self, name: str) -> Exception:
        return KnowledgeBaseNotFound("kb.not_found", name=name, folder=str(self.root))

    def create(self, name: str, embedder: str, dim: int) -> KBStore:
        return KBStore.create(self.folder(name), name, embedder, dim)

    def open(self, name: str, embedder: str | None, read_only: bool = False) -> KBStore:
        return KBStore.open(self.folder(name), name, embedder=embedder, read_only=read_only)

    def indexes(self, store: KBStore) -> Indexes:
        return Indexes(store)

    def list_all(self) -> list[KBInfo]:
        from kb.knowledge_base import _info

        if not self.root.is_dir():
            return []
        return [_info(f) for f in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
                if (f / "manifest.json").exists() or (f / DB_NAME).exists()]

    def remove(self, name: str) -> None:
        """Waits for a running write to finish (the writer lock), then renames the folder away, which is
        atomic: every process that has it open sees `kb.deleted` from then on."""
        from kb.store.lock import WriterLock

        folder = self.folder(name)
        if not self.exists(name):
            raise self.not_found(name)
        trash = folder.with_name(f".deleting-{name}-{os.getpid()}-{time.time_ns()}")
        with WriterLock(folder, name).hold():
            folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    def check(self, name: str, store: KBStore | None = None, indexes: Indexes | None = None) -> CheckReport:
        from kb.store.integrity import check

        return check(self.folder(name), name, indexes=indexes)
