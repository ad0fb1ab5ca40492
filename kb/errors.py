"""The errors KB Studio raises: a class per kind, a message code and parameters.

Every error carries a `code` (a key of `kb.messages.CATALOG`) and `params`; its text is made from
the catalog in the user's language when it is shown (`exc.message("zh")`, `exc.message("en")`),
so the same error reads in Chinese under a Chinese UI and in English in an English terminal.
`str(exc)` is the message in the process language (`KB_LANG`, else the locale; see kb/messages.py).

Pages and the CLI catch `KBError` and show its message; library errors are translated into these
classes once, inside `kb/`. Commands inside messages are written between backticks, so a page can
render them as code that copies correctly.
"""
from __future__ import annotations

from typing import Any


class KBError(Exception):
    """Base class: anything the user can act on. `KBError("code", name=..., ...)`."""

    def __init__(self, code: str, /, **params: Any):
        from kb.messages import require_code

        require_code(code)
        self.code = code
        self.params = {k: _plain(v) for k, v in params.items()}
        super().__init__(code)

    def message(self, lang: str | None = None) -> str:
        from kb.messages import render

        return render(self.code, self.params, lang)

    def __str__(self) -> str:
        return self.message()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "message": self.message()}


def _plain(value: Any) -> Any:
    """Parameters are shown and serialised: keep numbers, make everything else text."""
    if isinstance(value, (int, float, str)) or value is None:
        return value
    if isinstance(value, BaseException):
        return str(value) or type(value).__name__
    return str(value)


class ConfigError(KBError):
    """A bad value in config.toml or a KB_* environment variable."""


class KnowledgeBaseNotFound(KBError):
    """The named knowledge base does not exist in the data folder (or was deleted)."""


class EmbedderMismatch(KBError):
    """The knowledge base was built with a different embedder than the one configured."""


class StoreError(KBError):
    """The on-disk knowledge base cannot be read or written."""


class IngestError(KBError):
    """One file could not be ingested. Carries the file name; the reason is the message code."""

    def __init__(self, file: str, code: str, /, **params: Any):
        super().__init__(code, file=file, **params)
        self.file = file

    @property
    def reason(self) -> str:
        return self.message()


class EmbeddingError(KBError):
    """The embedder failed (e.g. Ollama embeddings unreachable)."""


class StageError(KBError):
    """A second retrieval stage gave nothing usable: the first stage's results stand."""


class OllamaError(KBError):
    """Base class for problems talking to Ollama."""


class OllamaUnavailable(OllamaError):
    """Ollama is not reachable at the configured URL."""


class ModelMissing(OllamaError):
    """The configured model is not present in Ollama."""


class OllamaTimeout(OllamaError):
    """Ollama did not answer in time."""


class GenerationError(OllamaError):
    """Ollama reported an error while generating (possibly mid-stream)."""
