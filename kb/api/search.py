"""`POST /api/search`: ranked chunks with the score breakdown, the JSON of `python -m kb search --json`."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from kb.llm.prompting import validate_history
from kb.api.errors import jsonable

router = APIRouter(tags=["Knowledge base"])


class SearchRequest(BaseModel):
    """The options of `kb search` (None: the configured value)."""

    model_config = ConfigDict(extra="forbid")
    query: str
    kb: str | None = Field(None, description="The knowledge base (default: [storage] default_kb)")
    mode: Literal["dense", "bm25", "hybrid"] | None = None
    k: int | None = Field(None, ge=1, le=100)
    threshold: float | None = Field(None, ge=-1, le=1, description="A manual docs-only gate (cosine)")
    mmr: bool | None = None
    documents: list[str] | None = Field(None, description="Only these documents (file names or ids)")
    history: list[Any] | None = Field(None, description="Earlier turns [{role, content}] for a follow-up")


@router.post("/api/search", summary="Search a knowledge base, with the score breakdown of `kb search --json`")
def search(body: SearchRequest, request: Request) -> dict[str, Any]:
    history = validate_history(body.history, source="history") if body.history else []
    kb = request.app.state.kbs.get(body.kb)
    result = kb.search(body.query, history=history, mode=body.mode, k=body.k, threshold=body.threshold,
                       mmr=body.mmr, documents=body.documents or None)
    return jsonable(result.to_dict())
