"""jieba's dictionary cache lives under data_dir or nowhere: a file planted in the shared temporary folder
is never opened and cannot change search terms. Each case runs in a fresh process (the tokenizer is
loaded once per process), with an audit hook recording every file the process opens."""
from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import jieba
import pytest

REPO = Path(__file__).resolve().parent.parent
TEXT = "向量检索与关键词检索结合使用，中华人民共和国的数据库"

PROBE = r"""
import json, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args else None)
from kb.search import textproc
if sys.argv[1]:
    textproc.use_data_dir(sys.argv[1])
terms = textproc.tokenize(sys.argv[2])
print(json.dumps({"terms": terms, "opened": [p for p in opened if "jieba" in p and p.endswith(".cache")]}))
"""


def run_probe(tmpdir: Path, data_dir: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(TMPDIR=str(tmpdir), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", PROBE, str(data_dir or ""), TEXT], env=env, capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def plant(folder: Path) -> Path:
    """A poisoned cache as jieba would write it: one huge word swallowing the test text."""
    folder.mkdir(parents=True, exist_ok=True)
    freq = {TEXT[:i]: 1 for i in range(1, len(TEXT) + 1)}
    planted = folder / "jieba.cache"
    planted.write_bytes(marshal.dumps((freq, 1)))
    return planted


@pytest.fixture(scope="module")
def expected_terms(tmp_path_factory) -> list[str]:
    return run_probe(tmp_path_factory.mktemp("clean-tmp"), None)["terms"]


@pytest.mark.parametrize("with_data_dir", [False, True])
def test_a_cache_planted_in_the_temporary_folder_is_never_opened(tmp_path, expected_terms, with_data_dir):
    shared_tmp = tmp_path / "shared-tmp"
    planted = plant(shared_tmp)
    before = planted.read_bytes()
    data = tmp_path / "data" if with_data_dir else None
    result = run_probe(shared_tmp, data)
    assert result["terms"] == expected_terms and "向量" in result["terms"]
    assert all(not p.startswith(str(shared_tmp)) for p in result["opened"]), result["opened"]
    assert planted.read_bytes() == before and sorted(p.name for p in shared_tmp.iterdir()) == ["jieba.cache"]
    if with_data_dir:
        assert result["opened"] == [str(data / "cache" / "jieba.cache")] or not result["opened"]
        assert (data / "cache" / "jieba.cache").is_file()  # written there for the next process
        again = run_probe(shared_tmp, data)  # the next process loads its own cache
        assert again["terms"] == expected_terms and again["opened"] == [str(data / "cache" / "jieba.cache")]


def test_jiebas_default_really_is_the_shared_folder(tmp_path):
    """The guard above is needed: an unconfigured jieba.Tokenizer reads $TMPDIR/jieba.cache."""
    tk = jieba.Tokenizer()
    assert tk.tmp_dir is None and tk.cache_file is None


def test_a_read_only_data_dir_keeps_no_cache_and_still_never_touches_tmp(tmp_path, expected_terms):
    shared_tmp = tmp_path / "shared-tmp"
    plant(shared_tmp)
    data = tmp_path / "data"
    data.mkdir()
    (data / "cache").write_text("a file where the cache folder would be")  # cannot become a folder
    result = run_probe(shared_tmp, data)
    assert result["terms"] == expected_terms and result["opened"] == []


def test_the_cli_keeps_the_cache_under_its_data_dir(tmp_path):
    from .reliability.helpers import kb_cli

    shared_tmp = tmp_path / "shared-tmp"
    plant(shared_tmp)
    note = tmp_path / "a.md"
    note.write_text(f"# 笔记\n\n{TEXT}。\n", encoding="utf-8")
    data = tmp_path / "data"
    assert kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress", TMPDIR=str(shared_tmp)).returncode == 0
    out = json.loads(kb_cli(data, "search", "向量检索", "--kb", "notes", "--json", TMPDIR=str(shared_tmp)).stdout)
    assert "向量" in out["query_terms"] and out["results"]
    assert (data / "cache" / "jieba.cache").is_file()
    assert sorted(p.name for p in shared_tmp.iterdir()) == ["jieba.cache"]


def test_a_cache_of_the_wrong_shape_in_data_dir_is_ignored_and_replaced(tmp_path, expected_terms):
    data = tmp_path / "data"
    plant(data / "cache")  # jieba's own format, not ours: could be anything a tool left there
    result = run_probe(tmp_path / "tmp", data)
    assert result["terms"] == expected_terms
    again = run_probe(tmp_path / "tmp", data)
    assert again["terms"] == expected_terms and again["opened"] == [str(data / "cache" / "jieba.cache")]


def test_a_small_disk_gets_no_cache_and_no_leftover(tmp_path, expected_terms):
    from .reliability.helpers import require_mount, tmpfs

    require_mount()
    with tmpfs("8m") as mount:
        result = run_probe(tmp_path / "tmp", mount / "data")
        assert result["terms"] == expected_terms
        assert list((mount / "data" / "cache").iterdir()) == []  # no cache, no half-written temporary file
