"""The knowledge bases the server has open, shared by every request (a `KnowledgeBase` is thread-safe).

Opening one builds its indexes and embedder, so it is done once and kept. One deleted meanwhile
(by the app or the CLI, `kb.deleted`) is forgotten, and the next request opens it afresh, which
finds it recreated or says it does not exist.
"""
from __future__ import annotations

import logging
import threading

from kb.config import Settings
from kb.errors import KBError, KnowledgeBaseNotFound
from kb.knowledge_base import KnowledgeBase, kb_name

log = logging.getLogger(__name__)


class KnowledgeBases:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._open: dict[str, KnowledgeBase] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None, create: bool = False) -> KnowledgeBase:
        """The open knowledge base `name` (default: [storage] default_kb); `KnowledgeBaseNotFound` unless
        it exists or `create`."""
        name = kb_name(name or self.settings.storage.default_kb)
        with self._lock:  # one opening at a time: two requests never open the same folder twice
            kb = self._open.get(name)
            if kb is None:
                kb = KnowledgeBase.open(self.settings, name, create=create)
                self._open[name] = kb
                log.info("api opened kb=%s", name)
            return kb

    def model(self, name: str) -> KnowledgeBase:
        """The knowledge base an OpenAI `model` names; unknown -> `api.model_not_found` listing the others."""
        try:
            return self.get(name)
        except KnowledgeBaseNotFound:
            raise KBError("api.model_not_found", model=name, available=", ".join(self.names()) or "—") from None
        except KBError as exc:
            if exc.code.startswith("kb.name_"):  # not even a possible name: the same answer as unknown
                raise KBError("api.model_not_found", model=str(name)[:64],
                              available=", ".join(self.names()) or "—") from None
            raise

    def names(self) -> list[str]:
        return [i.name for i in KnowledgeBase.list_all(self.settings) if not i.damaged]

    def forget(self, name: str) -> None:
        with self._lock:
            kb = self._open.pop(name, None)
        if kb is not None:
            _close(kb)

    def close(self) -> None:
        with self._lock:
            kbs, self._open = list(self._open.values()), {}
        for kb in kbs:
            _close(kb)


def _close(kb: KnowledgeBase) -> None:
    try:
        kb.close()
    except (KBError, OSError) as exc:
        log.warning("closing kb=%s failed reason=%s", kb.name, exc)
