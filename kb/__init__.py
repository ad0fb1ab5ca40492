"""KB Studio core: a private, local knowledge base over your PDFs and Markdown notes.

The public API is small: open a `KnowledgeBase` with `Settings`, then ingest, inspect,
search and ask. Everything the pages and the CLI do goes through it.
"""
from kb.config import Settings
from kb.errors import (ConfigError, EmbedderMismatch, EmbeddingError, GenerationError, IngestError, KBError,
                     KnowledgeBaseNotFound, ModelMissing, OllamaError, OllamaTimeout, OllamaUnavailable, StoreError)
from kb.knowledge_base import IngestProgress, KnowledgeBase
from kb.search.retrieval import ScoredChunk, SearchOptions, SearchResult
from kb.types import CheckReport, Chunk, Document, FileResult, IngestReport, KBInfo, OcrMark, Problem, RepairReport

__all__ = [
    "KnowledgeBase", "Settings", "SearchOptions", "SearchResult", "ScoredChunk", "Chunk", "Document",
    "FileResult", "IngestReport", "IngestProgress", "CheckReport", "RepairReport", "Problem", "KBInfo", "OcrMark",
    "KBError", "ConfigError", "IngestError", "EmbedderMismatch", "EmbeddingError", "KnowledgeBaseNotFound",
    "StoreError", "OllamaError", "OllamaUnavailable", "ModelMissing", "OllamaTimeout", "GenerationError",
]
