"""Placement that adapts: Ollama places the layers unless `[ollama] num_gpu` is set, and where they went is
read from /api/ps (size_vram against size). Driven through the real ChatOllama, the `ollama` client and the
CLI against the stand-in over HTTP; the stand-in places layers in `gpu_free` like Ollama's scheduler."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from kb import KBError, KnowledgeBase, cli
from kb.llm.ollama import RunningModel, chat_model
from tests.conftest import make_settings
from tests.ollama_standin import CUDA_RESERVE, OllamaStandin

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 ** 2


def _running(size: int, vram: int) -> RunningModel:
    return RunningModel("kb-qwen:latest", size, vram, 4096, None)


def test_layout_is_what_ollama_ps_says_as_data():
    assert _running(2_000, 2_000).layout.kind == "gpu"
    split = _running(2_000_000_000, 1_300_000_000)
    assert (split.layout.kind, split.layout.gpu_percent, split.layout.cpu_percent) == ("split", 65, 35)
    assert split.placement == "35%/65% CPU/GPU"  # the same rounding as `ollama ps`
    assert _running(2_000, 0).layout.kind == "cpu"
    assert _running(2_000, 3_000).layout.kind == "unknown"


def _settings(tmp_path: Path, server: OllamaStandin, **ollama):
    return make_settings(tmp_path / "data", ollama={"url": server.url, **ollama})


def test_by_default_no_num_gpu_is_sent_and_ollama_splits_what_does_not_fit(tmp_path):
    with OllamaStandin() as server:
        server.gpu_free = CUDA_RESERVE + 1200 * MIB  # a desktop holds part of a 4 GiB card
        settings = _settings(tmp_path, server)
        chat_model(settings).invoke([HumanMessage("你好")])
        [call] = server.calls("/api/chat")
        assert "num_gpu" not in (call.body.get("options") or {})
        [loaded] = KnowledgeBase.loaded_models(settings)
    assert loaded.layout.kind == "split" and 0 < loaded.layout.gpu_percent < 100


def test_a_num_gpu_setting_is_sent_with_every_request_and_can_fail_to_fit(tmp_path):
    with OllamaStandin() as server:
        settings = _settings(tmp_path, server, num_gpu=0)
        chat_model(settings).invoke([HumanMessage("你好")])
        assert server.calls("/api/chat")[0].body["options"]["num_gpu"] == 0
        server.unload("kb-qwen")
        server.gpu_free = CUDA_RESERVE + 1200 * MIB
        with pytest.raises(Exception, match="memory layout cannot be allocated with num_gpu = 29"):
            chat_model(_settings(tmp_path, server, num_gpu=29)).invoke([HumanMessage("你好")])


def test_setup_writes_the_num_gpu_setting_into_the_model_only_when_set(tmp_path):
    with OllamaStandin(models=("qwen2.5:1.5b",)) as server:
        with KnowledgeBase.open(_settings(tmp_path, server, modelfile=str(REPO / "Modelfile"))) as kb:
            kb.setup_model()
        assert "num_gpu" not in server.calls("/api/create")[-1].body["parameters"]
        with KnowledgeBase.open(_settings(tmp_path, server, modelfile=str(REPO / "Modelfile"), num_gpu=20)) as kb:
            kb.setup_model()
        assert server.calls("/api/create")[-1].body["parameters"]["num_gpu"] == 20
        assert server.model("kb-qwen").parameters["num_gpu"] == 20


def test_cli_model_ps_shows_where_the_layers_went(tmp_path, monkeypatch, capsys):
    with OllamaStandin() as server:
        for var, value in {"KB_OLLAMA_URL": server.url, "KB_DATA_DIR": str(tmp_path / "data"),
                           "KB_LANG": "zh"}.items():
            monkeypatch.setenv(var, value)
        assert cli.main(["model", "ps"]) == 0
        assert "没有加载任何模型" in capsys.readouterr().out
        server.load("kb-qwen", size=2_000_000_000, size_vram=2_000_000_000, context_length=4096)
        assert cli.main(["model", "ps"]) == 0
        assert "kb-qwen:latest：全部在 GPU" in capsys.readouterr().out
        server.load("kb-qwen", size=2_000_000_000, size_vram=1_300_000_000, context_length=4096)
        monkeypatch.setenv("KB_OLLAMA_NUM_GPU", "20")
        assert cli.main(["model", "ps", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert cli.main(["model", "status"]) == 0
        assert "CPU/GPU 分担：GPU 65%，CPU 35%" in capsys.readouterr().out
    [model] = data["models"]
    assert data["num_gpu"] == 20
    assert (model["placement"], model["gpu_percent"], model["processor"]) == ("split", 65, "35%/65% CPU/GPU")
    assert (model["size"], model["size_vram"], model["context_length"]) == (2_000_000_000, 1_300_000_000, 4096)


def test_loaded_models_says_when_ollama_is_down(tmp_path, ollama_down_url):
    settings = make_settings(tmp_path / "data", ollama={"url": ollama_down_url})
    with pytest.raises(KBError, match="ollama serve"):
        KnowledgeBase.loaded_models(settings)
