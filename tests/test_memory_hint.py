"""Out of GPU memory: the chat answer's error names the context length or the model that fits this card,
from the same fit check as the Overview page (kb/llm/fit.py `memory_hint`), through the real clients."""
from __future__ import annotations

import pytest

from kb import KnowledgeBase

from .conftest import make_settings

NOTE = "# 显卡\n\n这台电脑的显卡是 T600，显存 4 GB。\n"


def _ask(tmp_path, server, vram_gib: float, num_ctx: int = 4096):
    server.reply = "显卡是 T600 [1]。"
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": server.url, "timeout": 10.0, "vram_gib": vram_gib},
                             chat={"num_ctx": num_ctx})
    with KnowledgeBase.open(settings, "notes", create=True) as kb:
        kb.ingest_bytes([("显卡.md", NOTE.encode())])
        return kb.ask("显卡是什么型号？", session="s")


@pytest.mark.parametrize("message", ["CUDA error: out of memory",
                                     "memory layout cannot be allocated with num_gpu = 29"])
def test_the_hint_names_a_context_that_fits_or_a_smaller_model(tmp_path, ollama_standin, message):
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = message
    answer = _ask(tmp_path, ollama_standin, vram_gib=1.8)  # qwen2.5:1.5b fits up to ~3,800 tokens
    assert answer.error_code.startswith(("ollama.out_of_memory.", "ollama.memory_layout."))
    params = answer.error_params
    assert answer.error_code.endswith(".ctx_and_model")  # a shorter context, or a smaller model at this one
    assert params["error"] == message  # Ollama's own words are kept
    assert params["num_ctx"] or params["model"]
    if params["num_ctx"]:
        assert 1536 <= params["num_ctx"] < 4096 and str(params["num_ctx"]) in answer.error_message("en")
    if params["model"]:
        assert params["model"] in answer.error_message("zh") and "--from" in answer.error_message("en")
    if "num_gpu" in message:
        assert "PARAMETER num_gpu" in answer.error_message("en")


def test_a_tiny_card_gets_a_smaller_model(tmp_path, ollama_standin):
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = "CUDA error: out of memory"
    answer = _ask(tmp_path, ollama_standin, vram_gib=1.2)  # only qwen2.5:0.5b fits at 4096
    assert answer.error_code == "ollama.out_of_memory.model"
    assert answer.error_params["model"] == "qwen2.5:0.5b" and answer.error_params["num_ctx"] is None


def test_without_the_cards_memory_the_hint_stays_general(tmp_path, ollama_standin):
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = "CUDA error: out of memory"
    answer = _ask(tmp_path, ollama_standin, vram_gib=0.0)  # no nvidia-smi on this machine
    assert answer.error_code == "ollama.out_of_memory"
    assert "smaller model" in answer.error_message("en")
