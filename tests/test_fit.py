"""kb.llm.fit: the memory estimate against the Modelfile's own table, and `model fit` / `model setup --from`
driven through the CLI against the stand-in (its /api/show model_info) over HTTP."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kb import cli
from kb.errors import ConfigError, KBError
from kb.llm.fit import (FITS, GIB, KNOWN, SPLITS, TOO_BIG, Architecture, GpuMemory, check, estimate, fit,
                    from_model_info, gpu_memory, largest_context)
from kb.llm.modelfile import parse_modelfile, read_modelfile, write_from
from kb.llm.ollama import OllamaAdmin
from tests.ollama_standin import FakeModel, OllamaStandin

REPO = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^#\s+(qwen[\w.:]+)\s+([\d.]+) (MB|GB)\s+~([\d.]+) GiB\s+~([\d.]+) GiB", re.M)


def _table() -> list[tuple[str, float, str, float, float]]:
    rows = [(m, float(w), unit, float(a), float(b)) for m, w, unit, a, b in ROW.findall(
        (REPO / "Modelfile").read_text(encoding="utf-8"))]
    assert len(rows) == 6, rows
    return rows


def test_the_estimate_matches_the_modelfiles_table_within_a_tenth_of_a_gib():
    for model, weights, unit, at_4k, at_8k in _table():
        arch = KNOWN[model]
        assert abs(arch.size / (1e6 if unit == "MB" else 1e9) - weights) < (1 if unit == "MB" else 0.051), model
        assert abs(estimate(arch, 4096).total / GIB - at_4k) <= 0.1, model
        assert abs(estimate(arch, 8192).total / GIB - at_8k) <= 0.1, model


def test_the_terms_are_ollamas():
    e = estimate(KNOWN["qwen2.5:1.5b"], 4096)
    assert e.kv_cache == 28 * 4096 * (128 + 128) * 2 * 2 == 112 * 2**20  # the Modelfile's 28 KiB per token
    assert e.graph == 4 * 512 * (1536 + 151_936)  # the logits buffer: ~300 MiB
    assert e.reserve == 457 * 2**20
    long = estimate(KNOWN["qwen3:4b"], 8192)
    assert long.graph == 4 * 512 * (1 + 2 * 2560 + 8192 + 8192 * 32)  # attention scores outgrow the logits
    assert estimate(KNOWN["qwen3:0.6b"], 4096).kv_cache == 28 * 4096 * 256 * 8 * 2  # head_dim 128, not 1024/16


def test_verdicts_and_the_largest_context_on_a_4_gib_t600():
    gpu = GpuMemory(int(3.5 * GIB), 4 * GIB, "nvidia-smi", "NVIDIA T600")
    assert check(KNOWN["qwen2.5:1.5b"], 4096, gpu).verdict == FITS
    split = check(KNOWN["qwen3:4b"], 8192, gpu, ram_free=16 * GIB)
    assert split.verdict == SPLITS and 0 < split.gpu_layers < split.layers == 37
    assert check(KNOWN["qwen3:4b"], 8192, gpu, ram_free=GIB // 2).verdict == TOO_BIG
    tiny = GpuMemory(GIB // 2, None, "--vram")
    assert check(KNOWN["qwen3:4b"], 4096, tiny, ram_free=GIB).verdict == TOO_BIG
    assert check(KNOWN["qwen2.5:0.5b"], 4096, tiny, ram_free=8 * GIB).verdict == SPLITS  # CPU only, but it runs
    for arch in KNOWN.values():
        best = largest_context(arch, gpu.free)
        assert best is None or (estimate(arch, best).total <= gpu.free and best % 256 == 0)
        if best and best < arch.context_length:
            assert estimate(arch, best + 256).total > gpu.free
    assert largest_context(KNOWN["qwen2.5:1.5b"], 4 * GIB) == 32768  # capped at the trained context


def test_the_table_agrees_with_what_ollama_reports_for_the_same_models():
    with OllamaStandin(models=list(KNOWN)) as server, OllamaAdmin(server.url, timeout=5) as admin:
        for name, known in KNOWN.items():
            details = admin.show(name)
            arch, assumed = from_model_info(name, details.model_info, admin.sizes()[name],
                                            capabilities=details.capabilities)
            assert arch == Architecture(**{**known.__dict__, "source": "ollama /api/show"}), name
            assert assumed == ("vocab_size 151936",)  # not in a non-verbose /api/show


def test_fit_lists_installed_models_too_and_skips_embedders():
    mystery = FakeModel("mystery:7b", size=4_100_000_000, family="llama", block_count=32, embedding_length=4096,
                        head_count=32, head_count_kv=8, context_length=8192)
    with OllamaStandin(models=["qwen3:1.7b", "nomic-embed-text", mystery]) as server:
        with OllamaAdmin(server.url, timeout=5) as admin:
            report = fit(admin, num_ctx=4096, gpu=GpuMemory(int(3.5 * GIB), None, "--vram"))
    by_name = {r.model: r for r in report.results}
    assert list(by_name)[:6] == list(KNOWN) and "nomic-embed-text:latest" not in by_name
    assert by_name["qwen3:1.7b"].installed and not by_name["qwen2.5:3b"].installed
    assert by_name["mystery:7b"].verdict == SPLITS and by_name["mystery:7b"].arch.key_length == 128
    assert report.ollama_error is None


def test_fit_without_ollama_uses_the_table(ollama_down_url):
    with OllamaAdmin(ollama_down_url, timeout=2) as admin:
        report = fit(admin, ["qwen2.5:1.5b"], gpu=GpuMemory(4 * GIB, None, "--vram"))
        assert [r.verdict for r in report.results] == [FITS] and "ollama serve" in report.ollama_error
        with pytest.raises(KBError, match="architecture of llama3:8b is unknown"):
            fit(admin, ["llama3:8b"], gpu=GpuMemory(4 * GIB, None, "--vram"))


def test_gpu_memory_from_nvidia_smi_or_vram(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="--vram"):
        gpu_memory()
    assert gpu_memory(3.5) == GpuMemory(int(3.5 * GIB), None, "--vram")
    smi = tmp_path / "nvidia-smi"  # the driver's tool is a process boundary: a script stands in for it
    smi.write_text("#!/bin/sh\necho '3533, 4096, NVIDIA T600'\n")
    smi.chmod(0o755)
    assert gpu_memory() == GpuMemory(3533 * 2**20, 4096 * 2**20, "nvidia-smi", "NVIDIA T600")
    smi.write_text("#!/bin/sh\necho 'No devices were found'\nexit 6\n")
    with pytest.raises(KBError, match="nvidia-smi"):
        gpu_memory()


# -- through the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    def use(server: OllamaStandin, modelfile: Path | None = None) -> None:
        monkeypatch.setenv("KB_OLLAMA_URL", server.url)
        monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("KB_LANG", "en")
        if modelfile:
            monkeypatch.setenv("KB_OLLAMA_MODELFILE", str(modelfile))
    return use


def test_cli_model_fit_json_reads_model_info(cli_env, capsys):
    with OllamaStandin(models=["qwen3:1.7b"]) as server:
        cli_env(server)
        code = cli.main(["model", "fit", "qwen3:1.7b", "--vram", "3.5", "--num-ctx", "8192", "--json"])
        shows = server.calls("/api/show")
    out = json.loads(capsys.readouterr().out)
    [result] = out["results"]
    assert code == 0 and result["verdict"] == "fits" and result["installed"] and result["thinking"]
    assert result["num_ctx"] == 8192 and abs(result["needed_gib"] - 2.96) <= 0.01
    assert result["max_context"] == 12032 and result["source"] == "ollama /api/show"
    assert out["gpu"] == {"free": int(3.5 * GIB), "total": None, "source": "--vram", "name": "", "free_gib": 3.5}
    assert [r.body["model"] for r in shows] == ["qwen3:1.7b"]


def test_cli_model_fit_text_and_exit_status(cli_env, capsys):
    with OllamaStandin(models=()) as server:
        cli_env(server)
        code = cli.main(["model", "fit", "qwen3:4b", "--vram", "3.5", "--num-ctx", "8192"])
    text = capsys.readouterr().out
    assert code == 1 and "qwen3:4b: needs ~4.52 GiB at num_ctx 8192: splits CPU/GPU" in text
    assert "the largest context that still fits is 2560" in text and "model setup --from NAME" in text
    assert cli.main(["model", "fit", "qwen3:4b", "--vram", "0"]) == 2
    assert "--vram" in capsys.readouterr().err


def test_cli_setup_from_writes_the_modelfile_and_creates_the_model(cli_env, tmp_path, capsys):
    modelfile = tmp_path / "Modelfile"
    text = (REPO / "Modelfile").read_text(encoding="utf-8").replace("\n", "\r\n")
    modelfile.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))  # as PowerShell would have saved it
    with OllamaStandin(models=()) as server:
        cli_env(server, modelfile)
        assert cli.main(["model", "setup", "--from", "qwen3:1.7b", "--json"]) == 0
        [pull] = server.calls("/api/pull")
        [create] = server.calls("/api/create")
        assert pull.body["model"] == "qwen3:1.7b" and create.body["from"] == "qwen3:1.7b"
        assert "num_gpu" not in create.body["parameters"]
    data = modelfile.read_bytes()
    assert data.startswith(b"\xff\xfe") and data[2:].decode("utf-16-le") == text.replace(
        "FROM qwen2.5:1.5b\r\n", "FROM qwen3:1.7b\r\n")
    assert parse_modelfile(read_modelfile(modelfile)).from_ == "qwen3:1.7b"
    assert "FROM qwen2.5:1.5b -> qwen3:1.7b" in capsys.readouterr().err


def test_cli_setup_num_gpu_only_when_asked(cli_env, tmp_path):
    with OllamaStandin(models=("qwen2.5:1.5b",)) as server:
        cli_env(server, REPO / "Modelfile")
        assert cli.main(["model", "setup", "--num-gpu", "0", "--json"]) == 0
        assert server.calls("/api/create")[0].body["parameters"]["num_gpu"] == 0


def test_write_from_refuses_what_it_cannot_rewrite(tmp_path):
    path = tmp_path / "Modelfile"
    path.write_text("FROM ./a.gguf\nFROM ./b.gguf\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has 2 FROM lines"):
        write_from(path, "qwen3:1.7b")
    path.write_text("FROM x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be a FROM value"):
        write_from(path, "qwen3\nSYSTEM evil")
    assert path.read_text(encoding="utf-8") == "FROM x\n"
    assert write_from(path, "qwen2.5:3b") == "x" and path.read_text(encoding="utf-8") == "FROM qwen2.5:3b\n"
    assert not list(tmp_path.glob("*.tmp")) and os.path.exists(path)


def test_choose_is_one_call_for_a_page(tmp_path, monkeypatch):
    from kb.config import Settings
    from kb.llm.fit import choose, fit_for

    modelfile = tmp_path / "Modelfile"
    modelfile.write_text((REPO / "Modelfile").read_text(encoding="utf-8"), encoding="utf-8")
    with OllamaStandin(models=("qwen2.5:1.5b",)) as server:
        monkeypatch.setenv("KB_OLLAMA_URL", server.url)
        monkeypatch.setenv("KB_OLLAMA_MODELFILE", str(modelfile))
        monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
        settings = Settings.load(None)
        report = fit_for(settings, vram_gib=3.5)
        assert [r.model for r in report.results if r.installed] == ["qwen2.5:1.5b"]
        assert report.results[0].estimate.num_ctx == settings.chat.num_ctx
        assert choose(settings, "qwen2.5:0.5b") == "qwen2.5:1.5b"
        assert server.model("kb-qwen").parameter_size == "494.03M"  # created from the new FROM
