"""The errors KB Studio raises. Every message says what went wrong and how to fix it.

Pages and the CLI catch `KBError` and show its message; library errors are translated
into these classes once, inside `kb/`.
"""
from __future__ import annotations


class KBError(Exception):
    """Base class: anything the user can act on."""


class ConfigError(KBError):
    """A bad value in config.toml or a KB_* environment variable."""


class KnowledgeBaseNotFound(KBError):
    """The named knowledge base does not exist in the data folder."""


class EmbedderMismatch(KBError):
    """The knowledge base was built with a different embedder than the one configured."""


class StoreError(KBError):
    """The on-disk knowledge base cannot be read or written."""


class IngestError(KBError):
    """One file could not be ingested. Carries the file name and the reason."""

    def __init__(self, file: str, reason: str):
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class EmbeddingError(KBError):
    """The embedder failed (e.g. Ollama embeddings unreachable)."""


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
