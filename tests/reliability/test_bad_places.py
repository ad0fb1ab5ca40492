"""Bad places and bad moments: a config that is not UTF-8, a data folder that is a file or cannot be
written, a file swapped for a FIFO or a device while a batch runs. Each is a coded message naming the
file or variable and the reason; a batch goes on and reports every file it could not take."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from kb import ConfigError, KnowledgeBase, Settings

from ..conftest import make_settings
from .helpers import kb_cli, remount_read_only, require_mount, tmpfs

NOTE = "# 笔记\n\n向量检索与关键词检索结合使用，效果更好。\n"


def test_a_config_that_is_not_utf8_names_the_file_and_the_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_bytes('[storage]\ndefault_kb = "notes"\n# 中文注释\n'.encode("gbk"))
    with pytest.raises(ConfigError) as exc:
        Settings.load(cfg, env={})
    assert exc.value.code == "config.file_not_utf8" and exc.value.params["line"] == 3
    out = kb_cli(tmp_path / "data", "--config", str(cfg), "kbs", KB_LANG="zh")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(cfg) in out.stderr and "UTF-8" in out.stderr and "第 3 行" in out.stderr


def test_a_config_that_is_a_folder_or_unreadable_is_a_message(tmp_path):
    folder = tmp_path / "config.toml"
    folder.mkdir()
    out = kb_cli(tmp_path / "data", "kbs", KB_CONFIG=str(folder), KB_LANG="en")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "KB_CONFIG" in out.stderr


@pytest.mark.parametrize("below", ["", "sub/deeper"])
def test_kb_data_dir_pointing_at_a_file(tmp_path, below):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    data = a_file / below if below else a_file
    note = tmp_path / "a.md"
    note.write_text(NOTE, encoding="utf-8")
    for args in (["kbs"], ["ingest", str(note), "--kb", "notes", "--no-progress"], ["docs", "--kb", "notes"]):
        out = kb_cli(data, *args, KB_LANG="en")
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "KB_DATA_DIR" in out.stderr and str(a_file) in out.stderr and "is a file" in out.stderr
    as_json = kb_cli(data, "kbs", "--json")
    assert json.loads(as_json.stdout)["code"] == "config.data_dir_not_a_folder"
    assert a_file.read_text() == "x"


def test_an_unwritable_data_dir_is_refused_before_any_work(tmp_path):
    require_mount()
    note = tmp_path / "a.md"
    note.write_text(NOTE, encoding="utf-8")
    with tmpfs("4m") as mount:
        data = mount / "data"
        assert kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress").returncode == 0
        remount_read_only(mount)
        other = tmp_path / "b.md"
        other.write_text(NOTE + "第二份。", encoding="utf-8")
        out = kb_cli(data, "ingest", str(other), "--kb", "notes", "--no-progress", KB_LANG="en")
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert str(data) in out.stderr and "cannot be written" in out.stderr
        fresh = kb_cli(mount / "never-made", "ingest", str(other), "--kb", "notes", "--no-progress", KB_LANG="zh")
        assert fresh.returncode == 2 and "无法写入" in fresh.stderr
        docs = kb_cli(data, "docs", "--kb", "notes", "--json")  # reading still works
        assert docs.returncode == 0 and [d["file_name"] for d in json.loads(docs.stdout)] == ["a.md"]


def _ingest_in_thread(kb: KnowledgeBase, paths: list[Path], progress) -> dict:
    """Run an ingest in a thread; the join timeout is only a safety net against a regression that blocks."""
    box: dict = {}

    def run() -> None:
        box["report"] = kb.ingest(paths, progress=progress)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), "the batch blocked on a special file"
    return box


@pytest.mark.parametrize("swap", ["fifo", "device", "bigger"])
def test_a_file_swapped_during_a_batch_is_refused_when_read_and_the_batch_goes_on(tmp_path, swap):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [folder / f"{n}.md" for n in ("a", "b", "c")]
    for i, p in enumerate(paths):
        p.write_text(NOTE + f"第 {i} 份。", encoding="utf-8")

    def progress(p) -> None:
        if p.stage == "reading" and p.file_name == "a.md":
            paths[1].unlink()
            if swap == "fifo":
                os.mkfifo(paths[1])  # no writer: a blocking open or read would wait forever
            elif swap == "device":
                os.symlink("/dev/zero", paths[1])  # endless bytes
            else:
                paths[1].write_text(NOTE * 50, encoding="utf-8")

    with KnowledgeBase.open(make_settings(tmp_path / "data"), "notes") as kb:
        report = _ingest_in_thread(kb, paths, progress)["report"]
        assert [f.status for f in report.files] == ["added", "failed", "added"]
        failed = report.files[1]
        assert failed.file_name == "b.md" and str(paths[1]) in failed.error
        expected = {"fifo": "ingest.not_regular_file.fifo", "device": "ingest.not_regular_file.device",
                    "bigger": "ingest.file_changed"}[swap]
        assert failed.error_code == expected
        assert sorted(d.file_name for d in kb.documents()) == ["a.md", "c.md"] and kb.check().ok


def test_the_cli_reports_every_file_it_could_not_take(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "good.md"
    good.write_text(NOTE, encoding="utf-8")
    fifo = folder / "pipe.md"
    os.mkfifo(fifo)
    device = folder / "zero.md"
    os.symlink("/dev/zero", device)
    sub = folder / "sub.md"
    sub.mkdir()
    missing = folder / "missing.md"
    dangling = folder / "dangling.md"
    os.symlink(folder / "nowhere.md", dangling)
    args = [str(p) for p in (good, fifo, device, sub, missing, dangling)]
    out = kb_cli(tmp_path / "data", "ingest", *args, "--kb", "notes", "--no-progress", "--json", KB_LANG="en")
    assert out.returncode == 1, out.stderr
    files = json.loads(out.stdout)["files"]
    assert [f["file_name"] for f in files] == ["good.md", "pipe.md", "zero.md", "sub.md", "missing.md", "dangling.md"]
    assert [f["status"] for f in files] == ["added"] + ["failed"] * 5
    codes = [f["error_code"] for f in files[1:]]
    assert codes == ["ingest.not_regular_file.fifo", "ingest.not_regular_file.device",
                     "ingest.not_regular_file.directory", "ingest.cannot_read", "ingest.cannot_read"]
    assert all(f["error"] for f in files[1:])
    text = kb_cli(tmp_path / "data", "ingest", *args, "--kb", "notes", "--no-progress", KB_LANG="zh")
    assert text.returncode == 1 and "命名管道" in text.stdout and "设备" in text.stdout and "文件夹" in text.stdout
