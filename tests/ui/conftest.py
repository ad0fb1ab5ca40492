"""Fixtures for the UI tests: the app's environment (data folder, hash embedder, Ollama URL) and an
AppTest factory that starts from the entry, as a browser does."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import CORPUS, REPO, make_settings
from kb import KnowledgeBase

ENTRY = str(REPO / "streamlit_app.py")
APP_RUN_S = 600  # a safety net for one AppTest run on a loaded machine, not a limit anything is timed against
PDF = CORPUS / "003_283f558b8ee598dd.pdf"  # 8 pages, the smaller PDF
MD = CORPUS / "004_87af14dfdc7eb8b9.md"


class AppEnv:
    """Where the app under test keeps its data and which Ollama it talks to (KB_* variables)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, data: Path):
        self.monkeypatch = monkeypatch
        self.data = data
        monkeypatch.setenv("KB_DATA_DIR", str(data))
        monkeypatch.setenv("KB_EMBEDDER", "hash")
        # The hash embedder's cosine scale is far below e5's: a low gate lets chat reach the model.
        monkeypatch.setenv("KB_RETRIEVAL_THRESHOLD", "0.0")
        monkeypatch.setenv("KB_RETRIEVAL_RELATIVE_CUTOFF", "0.0")
        monkeypatch.delenv("KB_CONFIG", raising=False)

    def ollama(self, url: str) -> None:
        self.monkeypatch.setenv("KB_OLLAMA_URL", url)

    def settings(self):
        return make_settings(self.data, "hash", retrieval={"threshold": 0.0, "relative_cutoff": 0.0})

    def ingest(self, *paths: Path, kb: str = "notes") -> None:
        with KnowledgeBase.open(self.settings(), kb) as knowledge_base:
            report = knowledge_base.ingest(list(paths))
        assert report.ok, report

    def chunks(self, kb: str = "notes"):
        with KnowledgeBase.open(self.settings(), kb) as knowledge_base:
            return knowledge_base.chunks()

    def app(self, page: str | None = None, *, create: bool = True, status: bool = True) -> AppTest:
        """A new session (as a browser tab) on `page`. The default knowledge base is created first unless
        `create` is False (the app itself never creates one on its own); with `status`, the page is drawn
        again once the background refresher has Ollama's state, as the app's poller would."""
        if create:
            KnowledgeBase.open(self.settings(), "notes", create=True).close()
        at = AppTest.from_file(ENTRY, default_timeout=APP_RUN_S)
        at.run()
        assert not at.exception, at.exception
        if status:
            wait_status()
            at.run()
        if page:
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, at.exception
        return at


@pytest.fixture
def app_env(monkeypatch, tmp_path, ollama_standin) -> Iterator[AppEnv]:
    env = AppEnv(monkeypatch, tmp_path / "data")
    env.ollama(ollama_standin.url)
    yield env


@pytest.fixture
def corpus_env(app_env) -> AppEnv:
    """The app over a knowledge base holding one PDF and one Markdown file of the user's corpus."""
    if not PDF.exists() or not MD.exists():
        pytest.skip(f"the user's corpus is not at {CORPUS}")
    app_env.ingest(PDF, MD)
    return app_env


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def plain(markdown: str) -> str:
    """What escaped Markdown shows: the text without its escaping backslashes."""
    return re.sub(r"\\(.)", r"\1", str(markdown))


def frame(at: AppTest, column: str):
    """The value of the table that has `column` (plain st.dataframe tables have no key in AppTest)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a column {column!r}"
    return found[0]


def sidebar_text(at: AppTest) -> str:
    return plain(" ".join(texts(at.sidebar.markdown)))


def wait_job(at: AppTest, kind: str, timeout: float = APP_RUN_S) -> None:
    """Let a background job (ingest, re-index, model setup) finish, then draw its result.

    A fast job can end before the run that started it reaches the job's panel: that run then draws
    its end and the page may retire it from the running jobs (the model setup does), so it is looked
    up among the finished ones too. A job that was never started is still a KeyError."""
    running = at.session_state["_jobs"] if "_jobs" in at.session_state else {}
    finished = at.session_state["_jobs_finished"] if "_jobs_finished" in at.session_state else {}
    job = running.get(kind) or finished[kind]
    assert job.wait(timeout), f"{kind} did not finish in {timeout} s"
    at.run()


def wait_status(newer_than: float = 0.0):
    """Wait until the background refresher has asked Ollama (for the settings of the environment)."""
    from kb import Settings
    from ui import status

    snapshot = status.refresher().wait(Settings.load(), newer_than, timeout=APP_RUN_S)
    assert snapshot is not None, "the status refresher never answered"
    return snapshot


@pytest.fixture(autouse=True)
def _fresh_status():
    """Each test starts with no known Ollama state (and no refresher thread left over)."""
    from ui import status

    status.stop()
    yield
    status.stop()




@pytest.fixture(autouse=True)
def _navigation_v2(monkeypatch):
    """AppTest re-detects the `pages/` folder before every run and so starts each run in Streamlit's
    old multipage mode; the app then reruns itself through `st.navigation` (ui/navigation.py), which
    in AppTest would drop the widget value that triggered the run. A real server is in that mode
    only for its very first run (a page load, nothing to lose), which the browser journey covers.
    Here each AppTest run starts straight in `st.navigation` mode."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)
