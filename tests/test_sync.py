"""Folder sync against real folders: add / change / delete / rename between runs, compared with --dry-run."""
from __future__ import annotations

import json
import os
import threading

import pytest

from kb import sync as sync_module
from kb.errors import KBError

from .reliability.helpers import kb_cli


def _md(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {path.stem}\n\n{text}\n", encoding="utf-8")


def _run(kb, folder, prune=False):
    dry = kb.sync(folder, dry_run=True, prune=prune)
    real = kb.sync(folder, prune=prune)
    assert dry.changes() == real.changes(), (dry.changes(), real.changes())
    return real


def test_add_change_delete_rename_match_the_dry_run(kb, tmp_path):
    folder = tmp_path / "notes"
    _md(folder / "a.md", "第一篇笔记，关于向量检索。")
    _md(folder / "b.md", "第二篇笔记，关于关键词检索。")
    _md(folder / "guide" / "setup.md", "安装步骤：先装 Python。")
    first = _run(kb, folder)
    assert first.changes() == [("add", "a.md"), ("add", "b.md"), ("add", "guide › setup.md")]
    assert {d.file_name for d in kb.documents()} == {"a.md", "b.md", "guide › setup.md"}
    hit = kb.search("安装步骤 Python", mode="bm25", k=1).results[0]
    assert hit.chunk.file_name == "guide › setup.md" and "guide › setup.md" in hit.chunk.locator

    again = _run(kb, folder)
    assert again.changes() == [] and again.count("unchanged") == 3 and again.n_embedded == 0

    _md(folder / "a.md", "第一篇笔记，改过了：关于混合检索。")  # changed
    (folder / "b.md").rename(folder / "b2.md")  # renamed
    (folder / "guide" / "setup.md").unlink()  # deleted
    _md(folder / "c.md", "第三篇。")  # new
    no_prune = _run(kb, folder)
    assert no_prune.changes() == [("add", "c.md"), ("replace", "a.md")]
    assert [(i.name, i.params["same_as"]) for i in no_prune.items if i.action == "duplicate"] == [("b2.md", "b.md")]
    pruned = _run(kb, folder, prune=True)
    assert pruned.changes() == [("add", "b2.md"), ("remove", "b.md"), ("remove", "guide › setup.md")]
    assert {d.file_name for d in kb.documents()} == {"a.md", "b2.md", "c.md"}
    assert kb.check().ok


def test_duplicates_symlink_loops_and_bad_files_are_reported(kb, tmp_path):
    folder = tmp_path / "f"
    _md(folder / "one.md", "同样的内容。")
    (folder / "copy.md").write_bytes((folder / "one.md").read_bytes())
    (folder / "sub").mkdir()
    os.symlink(folder, folder / "sub" / "loop")
    (folder / "picture.bmp").write_bytes(b"BM")
    os.symlink(folder / "nowhere.md", folder / "broken.md")
    report = _run(kb, folder)
    by_action = {(i.action, i.code) for i in report.items}
    assert ("duplicate", "sync.duplicate") in by_action and ("skipped", "sync.symlink_loop") in by_action
    assert ("skipped", "ingest.unsupported_type") in by_action and ("skipped", "sync.cannot_read_file") in by_action
    assert len(kb.documents()) == 1
    assert all(i.message() for i in report.items if i.code)
    assert kb.check().ok


def test_missing_folder_and_too_many_files_change_nothing(kb, tmp_path, monkeypatch):
    with pytest.raises(KBError) as err:
        kb.sync(tmp_path / "gone")
    assert err.value.code == "sync.folder_missing"
    folder = tmp_path / "many"
    for i in range(12):
        _md(folder / f"n{i}.md", f"笔记 {i}")
    monkeypatch.setattr(sync_module, "MAX_FILES", 10)
    with pytest.raises(KBError) as err:
        kb.sync(folder)
    assert err.value.code == "sync.too_many" and "sub-folders" in str(err.value)
    assert kb.documents() == []


def test_ten_thousand_files_dry_run(kb, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"n{i:05}.md").write_text(f"笔记 {i}\n", encoding="utf-8")
    report = kb.sync(folder, dry_run=True)
    assert report.count("add") == 10_000 and len(report.items) == 10_000
    assert kb.documents() == []


def test_cancel_keeps_what_committed_and_reports_the_rest(kb, tmp_path):
    folder = tmp_path / "c"
    for i in range(5):
        _md(folder / f"n{i}.md", f"第 {i} 篇，内容各不相同 {i * 7}。")
    cancel = threading.Event()
    seen = []

    def progress(p):
        if p.stage == "done":
            seen.append(p.file_name)
            if len(seen) == 2:
                cancel.set()
    report = kb.sync(folder, progress=progress, cancel=cancel)
    assert report.cancelled and report.count("add") == 2 and report.count("not_done") == 3
    assert len(kb.documents()) == 2 and kb.check().ok


def test_cli_sync_dry_run_then_run(tmp_path):
    data = tmp_path / "data"
    folder = tmp_path / "notes"
    _md(folder / "a.md", "甲")
    _md(folder / "x" / "b.md", "乙")
    dry = kb_cli(data, "sync", str(folder), "--kb", "notes", "--dry-run", KB_LANG="en")
    assert dry.returncode == 0 and "dry run" in dry.stdout and "would add 2" in dry.stdout, dry.stderr
    out = json.loads(kb_cli(data, "sync", str(folder), "--kb", "notes", "--json", "--no-progress").stdout)
    assert out["counts"]["add"] == 2
    missing = kb_cli(data, "sync", str(tmp_path / "nope"), "--kb", "notes", KB_LANG="en")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
