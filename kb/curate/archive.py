"""Back up and restore a knowledge base as one tar archive: originals, database snapshots, a manifest.

Export takes the writer lock for its whole run (so no ingest can release an original or commit
between the database snapshot and the copy of the originals: the archive is one consistent state),
snapshots `kb.sqlite` and the conversations (`chats.sqlite`, kb/llm/sessions.py) with SQLite's online
backup API (never a file copy of a database in WAL mode), and writes `archive.json` first: format
versions, the embedder, and the sha256 and size of every other member. Nothing is pickled; index
files are not archived (they are derived and rebuilt). Archive format 1 had no conversations: such an
archive still imports, with none.

Import reads the archive twice. The first pass writes nothing: every member name is checked (no
absolute name, no `..`, regular files only, no duplicates, nothing the manifest does not list) and
every checksum verified, so a truncated, tampered or hostile archive is refused before a byte lands.
The second pass extracts into a hidden folder beside the knowledge bases, gives the copy its own uuid
and name, and renames it into place in one step.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kb.config import Settings, normalise_kb_name
from kb.errors import KBError, KnowledgeBaseNotFound
from kb.factory import embedder_id, kbs_dir
from kb.store import DB_NAME, FORMAT_VERSION, KBStore, utc_now, write_manifest

ARCHIVE_FORMAT = 2  # 2: the conversations (kb/chats.sqlite) are archived too
MANIFEST = "archive.json"
CHATS = "chats.sqlite"
CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportReport:
    kb: str
    path: str
    n_documents: int
    n_files: int
    size_bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ImportReport:
    kb: str
    source_name: str
    n_documents: int
    n_chunks: int
    rebuilt: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def export(settings: Settings, name: str, out: Path) -> ExportReport:
    started = time.monotonic()
    name = normalise_kb_name(name)
    folder = kbs_dir(settings) / name
    if not (folder / "manifest.json").exists():
        raise KnowledgeBaseNotFound("kb.not_found", name=name, folder=str(folder.parent))
    out = Path(out)
    store = KBStore.open(folder, name)
    try:
        with tempfile.TemporaryDirectory(prefix=".kb-export-", dir=out.parent if out.parent.is_dir() else None) as tmp:
            snap = Path(tmp) / DB_NAME
            with store.writer():
                _snapshot(store.db_path, snap)
                members: list[tuple[str, Path]] = [(f"kb/{DB_NAME}", snap)]
                if (folder / CHATS).is_file():  # chat does not take the writer: the backup API gives one state
                    _snapshot(folder / CHATS, Path(tmp) / CHATS)
                    members.append((f"kb/{CHATS}", Path(tmp) / CHATS))
                files = folder / "files"
                if files.is_dir():
                    members += [(f"kb/files/{p.name}", p) for p in sorted(files.iterdir()) if p.is_file()
                                and not p.name.startswith(".")]
                n_docs = store.counts()[0]
                listing = {arc: {"sha256": _sha(p), "size": p.stat().st_size} for arc, p in members}
                manifest = {"archive_format": ARCHIVE_FORMAT, "kb_format": FORMAT_VERSION, "name": name,
                            "embedder": store.embedder_name, "dim": store.dim, "created_at": store.created_at,
                            "exported_at": utc_now(), "members": listing}
                part = out.with_name(f".{out.name}.{os.getpid()}.part")
                try:
                    with tarfile.open(part, "w") as tar:
                        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                        info = tarfile.TarInfo(MANIFEST)
                        info.size, info.mtime = len(data), int(time.time())
                        tar.addfile(info, io.BytesIO(data))
                        for arc, p in members:
                            tar.add(p, arcname=arc, recursive=False)
                    os.replace(part, out)
                except OSError as exc:
                    part.unlink(missing_ok=True)
                    raise KBError("archive.write_failed", path=str(out), reason=exc.strerror or str(exc)) from exc
    finally:
        store.close()
    return ExportReport(name, str(out), n_docs, len(members), out.stat().st_size, round(time.monotonic() - started, 3))


def _snapshot(db: Path, out: Path) -> None:
    """A consistent copy of a SQLite database (WAL included) through the online backup API."""
    try:
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise KBError("archive.snapshot_failed", path=str(db), reason=str(exc)) from exc


def _safe_name(path: str, member: str) -> None:
    """Only the names an export writes: archive.json, kb/kb.sqlite, kb/chats.sqlite, kb/files/<one plain name>."""
    p = PurePosixPath(member)
    if member.startswith(("/", "\\")) or p.is_absolute() or ".." in p.parts or "\\" in member or ":" in member \
            or not member or member != p.as_posix():
        raise KBError("archive.unsafe_name", path=path, member=member[:200])
    ok = (member in (MANIFEST, f"kb/{DB_NAME}", f"kb/{CHATS}") or
          (len(p.parts) == 3 and p.parts[:2] == ("kb", "files") and not p.name.startswith(".")))
    if not ok:
        raise KBError("archive.unlisted", path=path, member=member[:200])


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except FileNotFoundError:
        raise KBError("archive.not_found", path=str(path)) from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise KBError("archive.unreadable", path=str(path), reason=str(exc)) from exc


def _verify(path: Path) -> dict[str, Any]:
    """Pass one: names, types and every checksum; writes nothing. Returns the manifest."""
    manifest: dict[str, Any] | None = None
    seen: dict[str, str] = {}
    try:
        with _open(path) as tar:
            for member in tar:
                _safe_name(str(path), member.name)
                if not member.isfile():
                    raise KBError("archive.not_a_file", path=str(path), member=member.name[:200])
                if member.name in seen or (member.name == MANIFEST and manifest is not None):
                    raise KBError("archive.duplicate", path=str(path), member=member.name[:200])
                fh = tar.extractfile(member)
                assert fh is not None  # a regular file always has content
                if member.name == MANIFEST:
                    manifest = _read_manifest(path, fh.read(10_000_000))
                    continue
                if manifest is None:
                    raise KBError("archive.no_manifest", path=str(path))
                if member.name not in manifest["members"]:
                    raise KBError("archive.unlisted", path=str(path), member=member.name[:200])
                h = hashlib.sha256()
                for block in iter(lambda: fh.read(CHUNK), b""):
                    h.update(block)
                seen[member.name] = h.hexdigest()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise KBError("archive.unreadable", path=str(path), reason=str(exc)) from exc
    if manifest is None:
        raise KBError("archive.no_manifest", path=str(path))
    for name, entry in manifest["members"].items():
        if name not in seen:
            raise KBError("archive.member_missing", path=str(path), member=name[:200])
        if seen[name] != entry.get("sha256"):
            raise KBError("archive.checksum", path=str(path), member=name[:200])
    if f"kb/{DB_NAME}" not in seen:
        raise KBError("archive.member_missing", path=str(path), member=f"kb/{DB_NAME}")
    return manifest


def _read_manifest(path: Path, data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise KBError("archive.manifest_bad", path=str(path), reason=str(exc)[:200]) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), dict):
        raise KBError("archive.manifest_bad", path=str(path), reason="no member list")
    for key in ("archive_format", "kb_format"):
        if not isinstance(manifest.get(key), int):
            raise KBError("archive.manifest_bad", path=str(path), reason=f"{key} is not an integer")
    if manifest["archive_format"] > ARCHIVE_FORMAT or manifest["kb_format"] > FORMAT_VERSION:
        raise KBError("archive.newer", path=str(path), version=manifest["kb_format"], supported=FORMAT_VERSION)
    for key in ("name", "embedder", "dim", "created_at"):
        if key not in manifest:
            raise KBError("archive.manifest_bad", path=str(path), reason=f"missing {key}")
    for member in manifest["members"]:
        _safe_name(str(path), member)
    return manifest


def import_archive(settings: Settings, path: Path, as_name: str | None = None, rebuild: bool = False) -> ImportReport:
    started = time.monotonic()
    path = Path(path)
    manifest = _verify(path)
    name = normalise_kb_name(as_name or str(manifest["name"]))
    root = kbs_dir(settings)
    target = root / name
    if target.exists():
        raise KBError("archive.name_taken", name=name, path=str(path))
    wanted = embedder_id(settings)
    if manifest["embedder"] != wanted and not rebuild:
        raise KBError("archive.embedder_differs", path=str(path), built=manifest["embedder"], configured=wanted,
                      name=name)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".importing-{name}-{os.getpid()}-{time.time_ns()}"
    staging.mkdir()
    try:
        with _open(path) as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                dest = staging / PurePosixPath(member.name).relative_to("kb")
                dest.parent.mkdir(parents=True, exist_ok=True)
                fh = tar.extractfile(member)
                assert fh is not None
                with open(dest, "wb") as out:
                    shutil.copyfileobj(fh, out, CHUNK)
                if _sha(dest) != manifest["members"][member.name]["sha256"]:  # changed since pass one
                    raise KBError("archive.checksum", path=str(path), member=member.name[:200])
        kb_uuid = uuidlib.uuid4().hex  # a copy is another knowledge base: its own identity
        conn = sqlite3.connect(staging / DB_NAME)
        try:
            conn.execute("UPDATE meta SET value=? WHERE key='uuid'", (kb_uuid,))
            if name != manifest["name"]:
                _rename_documents(conn, name)
            conn.commit()
        except sqlite3.Error as exc:
            raise KBError("archive.unreadable", path=str(path), reason=str(exc)) from exc
        finally:
            conn.close()
        write_manifest(staging, name, kb_uuid, str(manifest["embedder"]), int(manifest["dim"]),
                       str(manifest["created_at"]))
        if (staging / CHATS).exists():
            _open_chats(path, staging / CHATS)
        store = KBStore.open(staging, name)  # migrates an older format; proves the database opens
        n_docs, n_chunks, _ = store.counts()
        store.close()
        if target.exists():
            raise KBError("archive.name_taken", name=name, path=str(path))
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    rebuilt = False
    if manifest["embedder"] != wanted:
        from kb.knowledge_base import KnowledgeBase

        KnowledgeBase.rebuild(settings, name)
        rebuilt = True
    return ImportReport(name, str(manifest["name"]), n_docs, n_chunks, rebuilt, round(time.monotonic() - started, 3))


def _open_chats(path: Path, db: Path) -> None:
    """The restored conversations must open as the chat page opens them (and are migrated if older)."""
    from kb.errors import StoreError
    from kb.llm.sessions import SessionStore

    try:
        SessionStore(db).close()
    except StoreError as exc:
        raise KBError("archive.chats_bad", path=str(path), reason=str(exc.params.get("error", exc))) from exc


def _rename_documents(conn: sqlite3.Connection, name: str) -> None:
    """Document ids are made from the knowledge base's name (kb/ingest/pipeline.py), and re-chunking finds a
    document's curation by its id: under a new name every id is what ingesting there would make."""
    from kb.ingest.pipeline import doc_id_for
    from kb.store.curation import has_table

    tables = ["documents", "chunks"] + [t for t in ("curation", "edits", "activity") if has_table(conn, t)]
    for old, file_name in conn.execute("SELECT doc_id, file_name FROM documents").fetchall():
        new = doc_id_for(name, file_name)
        for table in tables:
            conn.execute(f"UPDATE {table} SET doc_id=? WHERE doc_id=?", (new, old))


def export_bytes(settings: Settings, name: str) -> bytes:
    """The archive as bytes (the Overview page's download button)."""
    with tempfile.TemporaryDirectory(prefix=".kb-export-") as tmp:
        out = Path(tmp) / f"{name}.kbarchive.tar"
        export(settings, name, out)
        return out.read_bytes()


def import_bytes(settings: Settings, data: bytes, as_name: str | None = None, rebuild: bool = False,
                 file_name: str = "upload.tar") -> ImportReport:
    with tempfile.TemporaryDirectory(prefix=".kb-import-") as tmp:
        path = Path(tmp) / Path(file_name).name
        path.write_bytes(data)
        return import_archive(settings, path, as_name, rebuild)


__all__ = ["export", "import_archive", "export_bytes", "import_bytes", "ExportReport", "ImportReport"]
