"""Ollama's state, kept fresh by one background thread per process, so no page waits on Ollama.

Asking Ollama takes up to four HTTP calls (version, models, running, show), each allowed 5 s: done on
every render, a slow or hung Ollama would freeze every page. Instead a daemon thread asks every few
seconds for each (url, model) a page has wanted and keeps the last answer with its time. Pages read
the last answer (`latest`) and show "checking…" while there is none yet; the refresh button wakes the
thread (`refresh`) and returns at once. The sidebar's poller (`ui.sidebar.ollama_badge`) redraws the
app when an answer arrives that differs from the one drawn.

Only the thread calls Ollama. Tests stop it with `stop()`, and wait for an answer with `wait`.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from kb import Settings
    from kb.llm.ollama import OllamaStatus

log = logging.getLogger(__name__)
INTERVAL_S = 5.0
Key = tuple[str, str]  # (Ollama URL, model)


@dataclass(frozen=True)
class Snapshot:
    status: "OllamaStatus"
    at: float  # time.time() when it was asked: an answer newer than t reflects everything done before t

    def signature(self) -> tuple:
        """What the pages show of it: a change here is worth redrawing the app."""
        s = self.status
        running = s.running
        return (s.reachable, s.version, s.model_present, s.error,
                None if running is None else (running.placement, running.context_length, running.size_vram),
                None if s.details is None else s.details.num_ctx)


def ask_ollama(settings: "Settings") -> "OllamaStatus":
    """The status from Ollama itself (the thread's work; never called on a page's run)."""
    from kb.factory import build_ollama_admin

    with build_ollama_admin(settings, timeout=5.0) as admin:
        return admin.status(settings.ollama.model)


def key_of(settings: "Settings") -> Key:
    return settings.ollama.url, settings.ollama.model


class Refresher:
    def __init__(self, ask: Callable[["Settings"], "OllamaStatus"] = ask_ollama, interval: float = INTERVAL_S):
        self._ask = ask
        self._interval = interval
        self._targets: dict[Key, "Settings"] = {}
        self._snapshots: dict[Key, Snapshot] = {}
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kb-ollama-status", daemon=True)

    def start(self) -> "Refresher":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def latest(self, settings: "Settings") -> Snapshot | None:
        """The last known status for these settings' Ollama and model; None until the first answer.
        Never blocks: a first request only wakes the thread."""
        key = key_of(settings)
        with self._changed:
            known = key in self._targets
            self._targets[key] = settings
            snapshot = self._snapshots.get(key)
        if not known:
            self._wake.set()
        return snapshot

    def refresh(self, settings: "Settings | None" = None) -> None:
        """Ask again now, in the background (the refresh button; after a model setup)."""
        if settings is not None:
            with self._changed:
                self._targets[key_of(settings)] = settings
        self._wake.set()

    def wait(self, settings: "Settings", newer_than: float = 0.0, timeout: float | None = None) -> Snapshot | None:
        """Block until there is a snapshot newer than `newer_than` (tests, and nothing on a page)."""
        key = key_of(settings)
        self.latest(settings)
        with self._changed:
            self._changed.wait_for(lambda: (s := self._snapshots.get(key)) is not None and s.at > newer_than,
                                   timeout)
            return self._snapshots.get(key)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            with self._changed:
                targets = list(self._targets.items())
            for key, settings in targets:
                asked_at = time.time()
                try:
                    status = self._ask(settings)
                except Exception:  # the thread must outlive any bug, or pages would say "checking…" forever
                    log.exception("ollama_status_failed url=%s", key[0])
                    continue
                with self._changed:
                    self._snapshots[key] = Snapshot(status, asked_at)
                    self._changed.notify_all()


_lock = threading.Lock()
_refresher: Refresher | None = None


def refresher() -> Refresher:
    """The process's refresher, started on first use."""
    global _refresher
    with _lock:
        if _refresher is None or not _refresher.alive:
            _refresher = Refresher().start()
        return _refresher


def stop() -> None:
    """Stop and forget the process's refresher (tests: each starts from no known status)."""
    global _refresher
    with _lock:
        current, _refresher = _refresher, None
    if current is not None:
        current.stop(timeout=30)


def latest(settings: "Settings") -> Snapshot | None:
    return refresher().latest(settings)


def refresh(settings: "Settings | None" = None) -> None:
    refresher().refresh(settings)
