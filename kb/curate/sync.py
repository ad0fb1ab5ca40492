"""Keep a knowledge base in step with a folder on this machine: add new files, replace changed ones,
and (`prune`) remove documents whose files are gone.

The folder is scanned and every file hashed first; the plan (`SyncItem`s) compares each file with the
document of the same name by content hash and chunker settings, so an unchanged folder costs reading
and hashing, never an embedding. A dry run stops at the plan; a real run makes the same plan again
(the folder may have changed meanwhile) and carries it out under one writer (kb/store/__init__.py):
each file commits in its own transaction, so cancelling (an event, or Ctrl-C) keeps what committed
and reports the rest as not done.

Sub-folders become part of the document's name (`guide › setup.md`), since a document name may not
hold a path separator (kb/ingest/loaders.py). The same content under two names is stored once and the
second reported as a duplicate. With `prune` the knowledge base mirrors the folder: a document the
folder does not hold is removed (the dry run lists them first), but never once the folder itself has
gone away during the run (an unplugged drive): those removals are reported as held (`sync.prune_held`).

`watch` runs the sync again every few seconds until a stop event is set: each round is one sync
(so one writer at a time, and nothing held between rounds), a round is reported as changed only
when it changed something or said something new, and a folder that is gone is waited for.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from kb.errors import IngestError, KBError
from kb.ingest.pipeline import Source
from kb.ingest.loaders import CANCELLED, clean_file_name, file_kind
from kb.types import FileResult

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase, ProgressFn

SEP = " › "
MAX_FILES = 20_000  # one sync; more is better split into sub-folders (each its own run)


@dataclass(frozen=True)
class SyncItem:
    """One line of a plan or of what was done."""

    action: str  # add | replace | unchanged | remove | duplicate | skipped | not_done | failed
    name: str  # the document name
    path: str = ""  # the file on disk ("" for a removed document)
    code: str = ""  # why (skipped, duplicate, failed), a kb.messages code
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str | None = None) -> str:
        from kb.messages import render

        return render(self.code, self.params, lang) if self.code else ""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "name": self.name, "path": self.path, "code": self.code,
                "params": self.params, "message": self.message()}


@dataclass(frozen=True)
class SyncReport:
    kb: str
    folder: str
    dry_run: bool
    items: tuple[SyncItem, ...]
    seconds: float
    n_embedded: int = 0
    cancelled: bool = False

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)

    @property
    def ok(self) -> bool:
        return not any(i.action in ("failed", "not_done") for i in self.items)

    def changes(self) -> list[tuple[str, str]]:
        """(action, name) of what changes the knowledge base: what a dry run promises and a run does."""
        return sorted((i.action, i.name) for i in self.items if i.action in ("add", "replace", "remove"))

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.kb, "folder": self.folder, "dry_run": self.dry_run, "seconds": self.seconds,
                "n_embedded": self.n_embedded, "cancelled": self.cancelled,
                "counts": {a: self.count(a) for a in ("add", "replace", "unchanged", "remove", "duplicate",
                                                      "skipped", "failed", "not_done")},
                "items": [i.to_dict() for i in self.items]}


@dataclass(frozen=True)
class _File:
    name: str
    path: Path
    size: int
    digest: str


def scan(folder: Path) -> tuple[list[_File], list[SyncItem]]:
    """Every supported file under `folder` (hashed), and what was skipped and why. Follows directory
    symlinks once each: a link back to a folder already walked is a loop, reported and not entered."""
    root = Path(folder)
    if not root.is_dir():
        raise KBError("sync.folder_missing", folder=str(root))
    files: list[_File] = []
    skipped: list[SyncItem] = []
    seen_dirs = {os.path.realpath(root)}

    def walk_error(exc: OSError) -> None:
        skipped.append(SyncItem("skipped", exc.filename or str(root), str(exc.filename or root),
                                "sync.cannot_read_folder", {"path": str(exc.filename or root),
                                                            "reason": exc.strerror or str(exc)}))

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error, followlinks=True):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            real = os.path.realpath(here / d)
            if real in seen_dirs:
                skipped.append(SyncItem("skipped", str((here / d).relative_to(root)), str(here / d),
                                        "sync.symlink_loop", {"path": str(here / d), "target": real}))
                continue
            seen_dirs.add(real)
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            path = here / f
            rel = path.relative_to(root)
            name = SEP.join(rel.parts)
            try:
                name = clean_file_name(name)
                file_kind(name)
                if len(files) >= MAX_FILES:
                    raise KBError("sync.too_many", folder=str(root), limit=MAX_FILES)
                data = path.read_bytes()
            except IngestError as exc:
                skipped.append(SyncItem("skipped", name, str(path), exc.code, dict(exc.params)))
                continue
            except OSError as exc:  # gone since listed, unreadable, a broken link
                skipped.append(SyncItem("skipped", name, str(path), "sync.cannot_read_file",
                                        {"path": str(path), "reason": exc.strerror or str(exc)}))
                continue
            files.append(_File(name, path, len(data), hashlib.sha256(data).hexdigest()))
    if not root.is_dir():  # gone while it was walked: what was listed is not the folder
        raise KBError("sync.folder_missing", folder=str(root))
    return files, skipped


def plan(kb: "KnowledgeBase", folder: Path, prune: bool = False, view=None) -> tuple[list[SyncItem], list[_File]]:
    files, items = scan(folder)
    docs = {d.file_name: d for d in (view.documents() if view is not None else kb.documents())}
    names = {f.name for f in files}
    # a sub-folder that could not be read is not known to be empty: keep its documents
    unread = tuple(i.name + SEP for i in items if i.code == "sync.cannot_read_folder")
    gone = {n for n in docs if n not in names and not n.startswith(unread)} if prune else set()
    signature = kb._chunker_signature()
    by_hash: dict[str, str] = {d.file_hash: n for n, d in docs.items() if n not in gone}
    todo: list[_File] = []
    for f in files:
        doc = docs.get(f.name)
        if doc is not None and doc.file_hash == f.digest and doc.metadata.get("chunker") == signature:
            items.append(SyncItem("unchanged", f.name, str(f.path)))
            by_hash.setdefault(f.digest, f.name)
            continue
        first = by_hash.get(f.digest)
        if first is not None and first != f.name:
            items.append(SyncItem("duplicate", f.name, str(f.path), "sync.duplicate", {"file": f.name,
                                                                                      "same_as": first}))
            continue
        by_hash[f.digest] = f.name
        items.append(SyncItem("replace" if doc is not None else "add", f.name, str(f.path)))
        todo.append(f)
    items += [SyncItem("remove", n) for n in sorted(gone)]
    return items, todo


def sync(kb: "KnowledgeBase", folder: Path, dry_run: bool = False, prune: bool = False,
         progress: "ProgressFn | None" = None, cancel: threading.Event | None = None) -> SyncReport:
    started = time.monotonic()
    folder = Path(folder).expanduser()
    if dry_run:
        items, _ = plan(kb, folder, prune)
        return SyncReport(kb.name, str(folder), True, tuple(items), round(time.monotonic() - started, 3))
    notify = progress or (lambda _p: None)
    done: list[SyncItem] = []
    embedded = 0
    cancelled = False
    from kb.knowledge_base import IngestProgress

    with kb._writer(notify) as w:
        items, todo = plan(kb, folder, prune, w)
        files = {f.name: f for f in todo}
        work = [i for i in items if i.action in ("add", "replace", "remove")]
        done += [i for i in items if i.action not in ("add", "replace", "remove")]
        seen: set[str] = set()
        for n, item in enumerate(work):
            try:  # Ctrl-C anywhere in a file's turn: that file rolled back, it and the rest are not done
                if cancelled or (cancel is not None and cancel.is_set()):
                    raise KeyboardInterrupt
                result, n_embedded = _carry_out(kb, w, item, files, n, len(work), notify, seen, folder, cancel)
                if result.action == "not_done" and result.code == "sync.not_done":  # cancelled between two OCR pages
                    cancelled = True
            except KeyboardInterrupt:
                cancelled = True
                # the signal may land after this file's commit: the database says whether it happened
                done.append(item if _committed(w, item, files) else
                            SyncItem("not_done", item.name, item.path, "sync.not_done", {"action": item.action}))
                continue
            done.append(result)
            embedded += n_embedded
            notify(IngestProgress(n, len(work), item.name, "done", 1, 1))
        kb._persist(w)
    return SyncReport(kb.name, str(folder), False, tuple(done), round(time.monotonic() - started, 3), embedded,
                      cancelled)


def _carry_out(kb: "KnowledgeBase", w, item: SyncItem, files: dict[str, _File], n: int, total: int, notify,
               seen: set[str], folder: Path, cancel: threading.Event | None = None) -> tuple[SyncItem, int]:
    """One planned change, committed in its own transaction: (what was done, chunks embedded)."""
    if item.action == "remove":
        if not folder.is_dir():  # unplugged or moved since the plan: what it holds is unknown, keep the document
            return SyncItem("not_done", item.name, "", "sync.prune_held", {"folder": str(folder), "name": item.name}), 0
        doc = w.document(item.name)
        if doc is not None:
            w.delete_document(doc.doc_id)
            kb._release_original(w, doc)
        return item, 0
    f = files[item.name]
    result: FileResult = kb._ingest_one(w, Source(f.name, f.size, _reader(f)), n, total, notify, seen, cancel=cancel)
    if result.error_code == CANCELLED:
        return SyncItem("not_done", item.name, item.path, "sync.not_done", {"action": item.action}), 0
    if result.status == "failed":
        return SyncItem("failed", item.name, item.path, result.error_code or "", dict(result.error_params)), 0
    return item, result.n_embedded


def _committed(w, item: SyncItem, files: dict[str, _File]) -> bool:
    doc = w.document(item.name)
    if item.action == "remove":
        return doc is None
    return doc is not None and doc.file_hash == files[item.name].digest


def _reader(f: _File) -> Callable[[], bytes]:
    """Read the file again when its turn comes, and refuse it if it changed since it was planned."""
    def read() -> bytes:
        try:
            data = f.path.read_bytes()
        except OSError as exc:
            raise IngestError(f.name, "ingest.cannot_read", path=str(f.path), reason=exc.strerror or str(exc)) from exc
        if hashlib.sha256(data).hexdigest() != f.digest:
            raise IngestError(f.name, "sync.changed_meanwhile", path=str(f.path))
        return data
    return read


@dataclass(frozen=True)
class WatchRound:
    """One round of `watch`: the sync's report, or the error that kept it from running (the folder is
    gone). `changed`: it changed the knowledge base, or it reports something the round before did not."""

    number: int
    report: SyncReport | None
    error: KBError | None = None
    changed: bool = True


def _noteworthy(report: SyncReport) -> list[tuple[str, str, str]]:
    """What a round says besides its changes (skipped, duplicate, failed files): new only when it differs."""
    return sorted((i.action, i.name, i.code) for i in report.items
                  if i.action not in ("unchanged", "add", "replace", "remove"))


def watch(kb: "KnowledgeBase", folder: Path, every: float, stop: threading.Event,
          on_round: Callable[[WatchRound], None], prune: bool = False,
          progress: "ProgressFn | None" = None) -> int:
    """Sync `folder` now and again every `every` seconds until `stop` is set; returns the rounds run.

    Each round is one `sync` (its own writer, released before the wait, so the pages and other
    commands write between rounds). `stop` also cancels a round between files. A missing folder is a
    round with `error` (sync.folder_missing) and the watch goes on waiting for it; any other error ends
    the watch. Ctrl-C between rounds ends it too (within a round, `sync` already handles it)."""
    rounds = 0
    last: object = None  # what the previous round reported: a list of items, or "missing"
    try:
        while not stop.is_set():
            rounds += 1
            try:
                report = sync(kb, folder, prune=prune, progress=progress, cancel=stop)
            except KBError as exc:
                if exc.code != "sync.folder_missing":
                    raise
                on_round(WatchRound(rounds, None, exc, changed=last != "missing"))
                last = "missing"
            else:
                now = _noteworthy(report)
                on_round(WatchRound(rounds, report, None, changed=bool(report.changes()) or now != last))
                last = now
                if report.cancelled:
                    break
            stop.wait(every)
    except KeyboardInterrupt:
        stop.set()
    return rounds
