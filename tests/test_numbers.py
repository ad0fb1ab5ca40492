"""NaN, infinity and other non-numbers are refused wherever a number enters: config.toml, KB_* variables,
command-line arguments. NaN compares false with everything, so it would pass every range check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import ConfigError, Settings

from .reliability.helpers import kb_cli

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("toml", ["[retrieval]\nthreshold = nan\n", "[ollama]\ntimeout = inf\n",
                                  "[storage]\nmax_file_mb = -inf\n", "[retrieval]\ndense_weight = +nan\n"])
def test_non_finite_values_in_config_toml_are_refused(tmp_path, toml):
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        Settings.load(cfg, env={})
    assert exc.value.code == "config.not_finite" and str(cfg) in exc.value.message("en")


@pytest.mark.parametrize("var,value,code", [
    ("KB_RETRIEVAL_THRESHOLD", "nan", "config.not_finite"), ("KB_OLLAMA_TIMEOUT", "inf", "config.not_finite"),
    ("KB_RETRIEVAL_THRESHOLD", "-Infinity", "config.not_finite"), ("KB_CHUNKING_SIZE", "1e999", "config.not_finite"),
    ("KB_CHUNKING_SIZE", "NaN", "config.not_finite"), ("KB_RETRIEVAL_K", "5.5", "config.not_int"),
    ("KB_RETRIEVAL_DENSE_WEIGHT", "lots", "config.not_number"),
])
def test_non_finite_environment_values_are_refused_naming_the_variable(var, value, code):
    with pytest.raises(ConfigError) as exc:
        Settings.load(REPO / "config.toml", env={var: value})
    assert exc.value.code == code and var in exc.value.message("en") and var in exc.value.message("zh")


def test_big_whole_numbers_still_parse():
    s = Settings.load(REPO / "config.toml", env={"KB_CHUNKING_SIZE": "600", "KB_RETRIEVAL_THRESHOLD": "0.5"})
    assert s.chunking.size == 600 and s.retrieval.threshold == 0.5


def test_overrides_refuse_nan_too():
    s = Settings.load(REPO / "config.toml", env={})
    with pytest.raises(ConfigError) as exc:
        s.with_overrides(retrieval={"threshold": float("nan")})
    assert exc.value.code == "config.not_finite"


@pytest.mark.parametrize("args,code", [
    (["--threshold", "nan"], "config.not_finite"), (["--threshold", "inf"], "config.not_finite"),
    (["--threshold", "5"], "config.rule.retrieval.threshold"), (["--k", "inf"], "config.not_finite"), (["--k", "2.5"], "config.not_int"),
    (["--k", "0"], "config.rule.retrieval.k"), (["--k", "1e3"], "config.rule.retrieval.k"),
])
def test_cli_refuses_non_finite_arguments_with_a_coded_error(tmp_path, args, code):
    data = tmp_path / "data"
    out = kb_cli(data, "search", "向量检索", "--kb", "notes", *args, "--json", KB_LANG="en")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    error = json.loads(out.stdout)  # valid JSON, NaN never printed
    assert error["code"] == code and args[0] in error["error"]
    assert args[0] in out.stderr


def test_cli_refuses_a_non_finite_environment_value_in_chinese(tmp_path):
    out = kb_cli(tmp_path / "data", "kbs", KB_OLLAMA_TIMEOUT="inf", KB_LANG="zh")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "KB_OLLAMA_TIMEOUT" in out.stderr and "有限的数字" in out.stderr
