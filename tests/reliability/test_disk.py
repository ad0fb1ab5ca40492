"""A full disk and a read-only data folder: clear errors, nothing lost, reading still works."""
from __future__ import annotations


import pytest

from kb import KnowledgeBase, StoreError

from ..conftest import corpus_files, make_settings
from .helpers import fill_disk, remount_read_only, require_mount, tmpfs


def test_disk_full_while_writing_keeps_the_previous_state():
    require_mount()
    with tmpfs("12m") as disk:
        settings = make_settings(disk / "data")
        with KnowledgeBase.open(settings, "notes") as kb:
            first = kb.ingest(corpus_files()[1:3])
            assert first.ok
            before = sorted(d.file_name for d in kb.documents())
            n_chunks = kb.info().n_chunks
            # Fill the disk, leaving a little room so the failure happens mid-write.
            filler = fill_disk(disk, 20_000)
            big = "\n\n".join(f"## 第{i}节\n\n" + "磁盘写满测试的内容，需要占用空间。" * 40 for i in range(200))
            report = kb.ingest_bytes([("big.md", big.encode())])
            failure = report.files[0]
            assert failure.status == "failed"
            assert "disk" in failure.error.lower() or "space" in failure.error.lower() or "full" in failure.error.lower()
            assert sorted(d.file_name for d in kb.documents()) == before
            assert kb.info().n_chunks == n_chunks
            assert kb.search("模型").results
        filler.unlink()
        with KnowledgeBase.open(settings, "notes") as kb:
            assert kb.check().ok
            assert sorted(d.file_name for d in kb.documents()) == before
            assert kb.ingest_bytes([("big.md", big.encode())]).ok  # with room again, it works


def test_read_only_data_folder_still_reads_and_searches_and_says_why_writes_fail():
    require_mount()
    with tmpfs("20m") as disk:
        settings = make_settings(disk / "data")
        with KnowledgeBase.open(settings, "notes") as kb:
            assert kb.ingest(corpus_files()[1:3]).ok
            names = sorted(d.file_name for d in kb.documents())
        remount_read_only(disk)
        with KnowledgeBase.open(settings, "notes") as kb:
            assert kb.store.read_only
            assert sorted(d.file_name for d in kb.documents()) == names
            assert kb.search("模型 训练").results
            assert kb.check().ok
            report = kb.ingest_bytes([("new.md", "新的内容。".encode())])
            assert report.files[0].status == "failed" and "read-only" in report.files[0].error
            with pytest.raises(StoreError, match="read-only"):
                kb.delete(names[0])


def test_rebuild_and_repair_on_a_full_disk_change_nothing_and_say_why():
    require_mount()
    with tmpfs("16m") as disk:
        settings = make_settings(disk / "data")
        with KnowledgeBase.open(settings, "notes") as kb:
            assert kb.ingest(corpus_files()[:3]).ok
            before = sorted((d.file_name, d.file_hash) for d in kb.documents())
        fill_disk(disk, 200_000)  # room to open and read, not to write everything again
        with pytest.raises(StoreError) as info:
            KnowledgeBase.rebuild(settings, "notes")
        assert info.value.code == "store.disk_full", info.value.params
        fill_disk(disk, 0)  # and with no room at all, even opening says why
        with pytest.raises(StoreError) as info:
            KnowledgeBase.open(settings, "notes")
        assert info.value.code == "store.disk_full_read"
        assert not [p for p in (disk / "data" / "kbs").iterdir() if p.name.startswith(".")]  # nothing left behind
        (disk / "filler.bin").unlink()
        with KnowledgeBase.open(settings, "notes") as kb:
            assert sorted((d.file_name, d.file_hash) for d in kb.documents()) == before
            assert kb.check().ok


def test_rebuild_on_a_read_only_folder_is_a_message():
    require_mount()
    with tmpfs("20m") as disk:
        settings = make_settings(disk / "data")
        with KnowledgeBase.open(settings, "notes") as kb:
            assert kb.ingest(corpus_files()[1:2]).ok
        remount_read_only(disk)
        with pytest.raises(StoreError) as info:
            KnowledgeBase.rebuild(settings, "notes")
        assert info.value.code == "store.read_only"
        assert "read-only" in info.value.message("en") and "只读" in info.value.message("zh")
