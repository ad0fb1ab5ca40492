from pathlib import Path

import pytest

from kb import ConfigError, Settings

REPO = Path(__file__).resolve().parent.parent


def test_project_config_loads_with_defaults():
    s = Settings.load(REPO / "config.toml", env={})
    assert s.embedder.name == "builtin"
    assert s.retrieval.mode == "hybrid"
    assert s.data_dir.is_absolute() and s.data_dir == (REPO / "data").resolve()


def test_env_overrides_win_over_the_file(tmp_path):
    env = {"KB_DATA_DIR": str(tmp_path / "elsewhere"), "KB_CHUNKING_SIZE": "400", "KB_RETRIEVAL_MMR": "true",
           "KB_MODEL": "qwen-small"}
    s = Settings.load(REPO / "config.toml", env=env)
    assert s.data_dir == tmp_path / "elsewhere"
    assert s.chunking.size == 400
    assert s.retrieval.mmr is True
    assert s.ollama.model == "qwen-small"


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="KB_CHUNKING_SIZE"):
        Settings.load(REPO / "config.toml", env={"KB_CHUNKING_SIZE": "big"})


def test_bad_file_value_names_the_key(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[retrieval]\nmode = "fuzzy"\n')
    with pytest.raises(ConfigError, match="mode"):
        Settings.load(cfg, env={})


def test_unknown_key_is_an_error(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[chunking]\nsise = 300\n")
    with pytest.raises(ConfigError, match="sise"):
        Settings.load(cfg, env={})


def test_broken_toml_is_a_clear_error(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[chunking\n")
    with pytest.raises(ConfigError, match="config.toml"):
        Settings.load(cfg, env={})


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\ndata_dir = "mydata"\n')
    assert Settings.load(cfg, env={}).data_dir == (tmp_path / "mydata").resolve()


def test_with_overrides_validates():
    s = Settings.load(REPO / "config.toml", env={})
    assert s.with_overrides(retrieval={"k": 8}).retrieval.k == 8
    with pytest.raises(ConfigError):
        s.with_overrides(chunking={"overlap": 10_000})


def test_a_retired_key_is_read_with_a_warning_and_a_renamed_one_carries_its_value(tmp_path, caplog):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[retrieval]\nname_check = false\nanswer_type_boost = 0.3\n")
    with caplog.at_level("WARNING", logger="kb.config"):
        s = Settings.load(cfg, env={})
    assert s.retrieval.gate_names is False
    assert "key=name_check replaced_by=gate_names" in caplog.text
    assert "key=answer_type_boost replaced_by=-" in caplog.text


def test_the_new_key_wins_over_the_retired_one(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[retrieval]\nname_check = false\ngate_names = true\n")
    assert Settings.load(cfg, env={}).retrieval.gate_names is True


def test_gate_names_reaches_the_search_options(tmp_path):
    from kb import SearchOptions

    s = Settings.load(REPO / "config.toml", env={"KB_RETRIEVAL_GATE_NAMES": "false"})
    assert SearchOptions.from_settings(s.retrieval).gate_names is False
    assert SearchOptions.from_settings(Settings.load(REPO / "config.toml", env={}).retrieval).gate_names is True


def test_num_gpu_is_unset_by_default_and_validated(tmp_path):
    assert Settings.load(REPO / "config.toml", env={}).ollama.num_gpu is None  # Ollama places the layers
    assert Settings.load(REPO / "config.toml", env={"KB_OLLAMA_NUM_GPU": "20"}).ollama.num_gpu == 20
    assert Settings.load(REPO / "config.toml", env={"KB_OLLAMA_NUM_GPU": "auto"}).ollama.num_gpu is None
    cfg = tmp_path / "config.toml"
    cfg.write_text("[ollama]\nnum_gpu = 0\n")
    assert Settings.load(cfg, env={}).ollama.num_gpu == 0
    with pytest.raises(ConfigError, match=r"\[ollama\] num_gpu.*KB_OLLAMA_NUM_GPU"):
        Settings.load(REPO / "config.toml", env={"KB_OLLAMA_NUM_GPU": "2000"})
    with pytest.raises(ConfigError, match="whole number"):
        Settings.load(REPO / "config.toml", env={"KB_OLLAMA_NUM_GPU": "1.5"})
    with pytest.raises(ConfigError, match="vram_gib"):
        Settings.load(REPO / "config.toml", env={"KB_OLLAMA_VRAM_GIB": "-1"})
