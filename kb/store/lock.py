"""The writer lock of one knowledge base: a thread lock plus flock() on `<folder>/.lock`.

flock() locks belong to an open file description, so two threads or two processes that open
the file each get their own and exclude each other. The thread lock in front keeps a thread that
already holds the lock from deadlocking on itself (the lock is re-entrant per thread) and keeps
threads of one process from spinning on the file.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from kb.errors import KnowledgeBaseNotFound, StoreError

log = logging.getLogger(__name__)

_POLL = 0.05


class _FolderState:
    """Per folder and process: the thread lock, and how deep the holding thread is in it (so every
    WriterLock of the same folder re-enters in the thread that holds it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()


_states: dict[str, _FolderState] = {}
_states_guard = threading.Lock()


def _state(folder: Path) -> _FolderState:
    key = str(folder.absolute())
    with _states_guard:
        return _states.setdefault(key, _FolderState())


def busy(folder: Path) -> bool:
    """Whether some writer (any thread or process) holds the lock of `folder` right now."""
    if _state(folder).lock.locked():
        return True
    try:
        fh = open(folder / ".lock", "a+")
    except OSError:
        return False
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        fh.close()  # closing releases the lock if we got it
    return False


class WriterLock:
    """`with lock.hold(): ...` — exclusive across threads and processes, re-entrant per thread."""

    def __init__(self, folder: Path, name: str, timeout: float = 1800.0):
        self.folder = folder
        self.name = name
        self.timeout = timeout
        state = _state(folder)
        self._thread = state.lock
        self._local = state.local

    @property
    def held(self) -> bool:
        """Whether this thread holds the lock (through any WriterLock of the same folder)."""
        return getattr(self._local, "depth", 0) > 0

    @contextlib.contextmanager
    def hold(self, waiting: Callable[[], None] | None = None) -> Iterator[None]:
        if self.held:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        deadline = time.monotonic() + self.timeout
        if not self._thread.acquire(blocking=False):
            if waiting:
                waiting()
            if not self._thread.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise StoreError("store.lock_timeout", kb=self.name, seconds=round(self.timeout))
        try:
            fh = self._open_locked(deadline, waiting)
            try:
                self._local.depth = 1
                yield
            finally:
                self._local.depth = 0
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()
        finally:
            self._thread.release()

    def _open_locked(self, deadline: float, waiting: Callable[[], None] | None):
        path = self.folder / ".lock"
        told = False
        while True:
            if not self.folder.is_dir():
                raise KnowledgeBaseNotFound("kb.deleted", name=self.name)
            try:
                fh = open(path, "a+")
            except FileNotFoundError:
                raise KnowledgeBaseNotFound("kb.deleted", name=self.name) from None
            except OSError as exc:
                raise StoreError("store.cannot_write", kb=self.name, folder=str(self.folder),
                                 reason=exc.strerror or str(exc)) from exc
            try:
                while True:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if not told and waiting:
                            waiting()
                            told = True
                        if time.monotonic() > deadline:
                            raise StoreError("store.lock_timeout", kb=self.name,
                                             seconds=round(self.timeout)) from None
                        time.sleep(_POLL)
            except BaseException:
                fh.close()
                raise
            # The folder may have been removed (renamed away) while we waited: the lock we hold is then
            # the old folder's. Only a lock on the file that is still at `path` counts.
            try:
                same = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fh
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()
            log.info("writer lock file was replaced while waiting kb=%s; trying again", self.name)
