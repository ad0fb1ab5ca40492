"""Files of a knowledge base folder: atomic writes, checksums, and the stored originals.

Originals are kept by content (`files/<sha256><ext>`) so that reindex, rebuild and repair need no
re-upload. Beside each one a small JSON sidecar (`<sha256><ext>.json`) names the documents that use
it, so a knowledge base whose database was lost can be restored from `files/` alone, names included.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

CHUNK = 1 << 20


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write aside, fsync, rename over: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class Originals:
    """`files/` of one knowledge base."""

    def __init__(self, folder: Path):
        self.dir = folder / "files"

    def path(self, file_hash: str, file_name: str) -> Path:
        return self.dir / f"{file_hash}{Path(file_name).suffix.lower()}"

    def keep(self, file_hash: str, file_name: str, data: bytes) -> None:
        """Store the bytes (once per content; again if the stored copy is missing or damaged) and add the
        name to the sidecar."""
        self.dir.mkdir(exist_ok=True)
        path = self.path(file_hash, file_name)
        try:
            intact = path.stat().st_size == len(data) and sha256_file(path) == file_hash
        except OSError:
            intact = False
        if not intact:
            write_atomic(path, data)
        names = self.names(path)
        if file_name not in names:
            self._write_names(path, [*names, file_name])

    def read_intact(self, file_hash: str, file_name: str) -> bytes | None:
        """The stored original, or None when it is missing or no longer the file that was ingested."""
        try:
            data = self.path(file_hash, file_name).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == file_hash else None

    def release(self, file_hash: str, file_name: str, still_used: bool) -> None:
        """A document stopped using this original: drop its name, and the file when nobody uses it."""
        path = self.path(file_hash, file_name)
        names = [n for n in self.names(path) if n != file_name]
        if still_used or names:
            self._write_names(path, names)
            return
        path.unlink(missing_ok=True)
        self._sidecar(path).unlink(missing_ok=True)

    def names(self, path: Path) -> list[str]:
        try:
            value = json.loads(self._sidecar(path).read_text(encoding="utf-8"))
            names = value.get("names", []) if isinstance(value, dict) else []
            return [n for n in names if isinstance(n, str)]
        except (OSError, ValueError):
            return []

    def stored(self) -> Iterator[tuple[Path, list[str]]]:
        """Every stored original with the names its sidecar gives (may be empty)."""
        if not self.dir.is_dir():
            return
        for path in sorted(self.dir.iterdir()):
            if path.is_file() and not path.name.endswith(".json") and not path.name.startswith("."):
                yield path, self.names(path)

    def _sidecar(self, path: Path) -> Path:
        return path.with_name(path.name + ".json")

    def _write_names(self, path: Path, names: list[str]) -> None:
        body: dict[str, Any] = {"names": names, "updated_at": utc_now()}
        write_atomic(self._sidecar(path), json.dumps(body, ensure_ascii=False).encode("utf-8"))
