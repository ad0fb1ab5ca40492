"""Shared helpers for the reliability battery: running the CLI in a child process, tmpfs mounts."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]


def kb_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update({"KB_DATA_DIR": str(data_dir), "KB_EMBEDDER": "hash", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def kb_cli(data_dir: Path, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=REPO, env=kb_env(data_dir, **extra),
                          capture_output=True, text=True, timeout=timeout)


def kb_popen(data_dir: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kb", *args], cwd=REPO, env=kb_env(data_dir, **extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path("/tmp") / f"kbmnt-{uuid.uuid4().hex[:6]}"
    probe.mkdir()
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


def require_mount() -> None:
    if not can_mount():
        if os.environ.get("CI"):
            pytest.fail("CI must be able to mount a tmpfs (root) for the disk-full and read-only tests")
        pytest.skip("needs root to mount a small tmpfs")


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    """A small tmpfs: a disk that really fills up."""
    path = Path("/tmp") / f"kbfs-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill_disk(disk: Path, leave: int = 0) -> Path:
    """Fill the filesystem of `disk` (unbuffered, so the disk-full error comes in the loop), then give back
    `leave` bytes. Returns the filler file (unlink it to free the space)."""
    filler = disk / "filler.bin"
    with open(filler, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
