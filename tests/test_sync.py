"""Folder sync against real folders: add / change / delete / rename between runs, compared with --dry-run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from kb import KnowledgeBase
from kb.curate import sync as sync_module
from kb.errors import KBError

from .reliability.helpers import REPO, kb_cli, kb_env

SAFETY_S = 300  # a last-resort net only: every wait in these tests ends on an event


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


def test_ten_thousand_files_in_one_folder_sync_whole_and_then_cost_nothing(kb, tmp_path):
    _md(tmp_path / "keep.md", "已有的笔记，不能丢。")
    kb.ingest([tmp_path / "keep.md"])
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"n{i:05}.md").write_text(f"笔记 {i}\n", encoding="utf-8")
    report = kb.sync(folder, dry_run=True)
    assert report.count("add") == 10_000 and len(report.items) == 10_000
    assert [d.file_name for d in kb.documents()] == ["keep.md"]
    done = kb.sync(folder)
    assert done.ok and done.count("add") == 10_000
    assert len(kb.documents()) == 10_001 and kb.check().ok
    again = kb.sync(folder)
    assert again.changes() == [] and again.n_embedded == 0 and again.count("unchanged") == 10_000


def test_a_folder_that_vanishes_while_its_files_are_carried_out_loses_nothing(kb, tmp_path):
    import shutil

    _md(tmp_path / "keep.md", "已有的笔记，不能丢。")
    kb.ingest([tmp_path / "keep.md"])
    folder = tmp_path / "usb"
    for i in range(4):
        _md(folder / f"n{i}.md", f"第 {i} 篇，内容各不相同 {i * 7}。")

    def progress(p):  # the first file committed: the folder goes away (an unplugged drive)
        if p.stage == "done" and folder.exists():
            shutil.rmtree(folder)
    report = kb.sync(folder, prune=True, progress=progress)
    failed = [i for i in report.items if i.action == "failed"]
    assert report.count("add") == 1 and len(failed) == 3 and not report.ok and not report.cancelled
    assert all(i.code == "ingest.cannot_read" and i.path in i.message() for i in failed)
    held = [i for i in report.items if i.action == "not_done"]  # the plan's prune is not carried out
    assert [(i.name, i.code) for i in held] == [("keep.md", "sync.prune_held")] and str(folder) in held[0].message()
    assert {d.file_name for d in kb.documents()} == {"keep.md", "n0.md"}  # nothing pruned, nothing half-done
    assert kb.check().ok
    with pytest.raises(KBError) as err:  # the next run: gone, and said so; still nothing removed
        kb.sync(folder, prune=True)
    assert err.value.code == "sync.folder_missing" and str(folder) in str(err.value)
    assert {d.file_name for d in kb.documents()} == {"keep.md", "n0.md"}


def test_a_folder_that_vanishes_while_it_is_scanned_prunes_nothing(kb, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "usb"
    for i in range(3):
        _md(folder / "sub" / f"n{i}.md", f"第 {i} 篇，内容各不相同 {i * 5}。")
    assert kb.sync(folder).count("add") == 3
    real_walk = os.walk

    def walk_then_unplug(top, *args, **kwargs):
        for n, entry in enumerate(real_walk(top, *args, **kwargs)):
            yield entry
            if n == 0:  # the top folder was listed, then the drive went away
                shutil.rmtree(folder)
    monkeypatch.setattr(sync_module.os, "walk", walk_then_unplug)
    with pytest.raises(KBError) as err:
        kb.sync(folder, prune=True)
    assert err.value.code == "sync.folder_missing"
    assert len(kb.documents()) == 3 and kb.check().ok


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



def test_watch_syncs_each_round_reports_only_changes_and_waits_for_a_missing_folder(kb, tmp_path):
    """Rounds are driven by the callback (every=0): the folder changes between rounds, never on a clock."""
    folder = tmp_path / "w"
    _md(folder / "a.md", "甲，第一篇。")
    _md(folder / "b.md", "乙，第二篇。")
    (folder / "picture.bmp").write_bytes(b"BM")  # skipped in every round: reported once
    away = tmp_path / "away"
    steps = {1: lambda: _md(folder / "c.md", "丙，新来的。"),  # what the folder does after round n
             2: lambda: _md(folder / "a.md", "甲，改过了。"),
             3: lambda: (folder / "b.md").unlink(),
             4: lambda: None,  # nothing: round 5 is quiet
             5: lambda: folder.rename(away),
             6: lambda: None,  # still gone: round 7 says nothing new
             7: lambda: away.rename(folder)}
    stop = threading.Event()
    rounds, docs = [], {}

    def on_round(r):
        rounds.append(r)
        docs[r.number] = sorted(d.file_name for d in kb.documents())
        steps.get(r.number, stop.set)()

    assert kb.watch(folder, 0, stop, on_round, prune=True) == 8
    changes = [r.report.changes() if r.report else r.error.code for r in rounds]
    assert changes == [[("add", "a.md"), ("add", "b.md")], [("add", "c.md")], [("replace", "a.md")],
                       [("remove", "b.md")], [], "sync.folder_missing", "sync.folder_missing", []]
    assert [r.changed for r in rounds] == [True, True, True, True, False, True, False, True]
    assert "does not exist" in rounds[5].error.message("en")
    assert docs[5] == docs[6] == docs[7] == docs[8] == ["a.md", "c.md"]  # a gone folder prunes nothing
    assert "改过了" in kb.search("甲 改过", mode="bm25", k=1).results[0].chunk.text
    assert kb.check().ok


def test_watch_rounds_wait_for_the_writer_and_stop_cancels_between_files(settings, tmp_path):
    """One writer: a round waits while another writer holds the lock; the stop event ends a round
    between files (what committed stays) and the watch with it."""
    folder = tmp_path / "w"
    for i in range(4):
        _md(folder / f"n{i}.md", f"第 {i} 篇，内容各不相同 {i * 13}。")
    waiting, done = threading.Event(), threading.Event()
    stop = threading.Event()
    rounds, errors = [], []

    def progress(p):
        if p.stage == "waiting":
            waiting.set()
        if p.stage == "done" and p.file_index == 1:
            stop.set()  # as SIGTERM does: the file in hand finishes, the rest is not done

    with KnowledgeBase.open(settings, "notes") as kb, KnowledgeBase.open(settings, "notes") as other:
        def run():
            try:
                kb.watch(folder, 0, stop, rounds.append, progress=progress)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread below
                errors.append(exc)
            done.set()

        with other.store.writer():
            worker = threading.Thread(target=run)
            worker.start()
            assert waiting.wait(SAFETY_S)
            assert other.documents() == [] and not rounds  # the round is waiting for the writer
        assert done.wait(SAFETY_S) and not errors, errors
        worker.join()
        assert len(rounds) == 1 and rounds[0].report.cancelled
        assert rounds[0].report.count("add") == 2 and rounds[0].report.count("not_done") == 2
        assert len(kb.documents()) == 2 and kb.check().ok


def test_cli_watch_prints_rounds_and_stops_cleanly_on_sigterm(tmp_path):
    data = tmp_path / "data"
    folder = tmp_path / "notes"
    _md(folder / "a.md", "甲")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "sync", str(folder), "--kb", "notes", "--watch", "0.5",
                             "--no-progress"], cwd=REPO, env=kb_env(data, KB_LANG="en"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:  # event: the first round's summary is printed
            lines.append(line)
            if "knowledge base 'notes':" in line:
                break
        assert "Watching the folder" in lines[0] and "round 1" in "".join(lines) and "1 added" in lines[-1], lines
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=SAFETY_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Stopped watching after" in out and "round 2" not in out  # an unchanged round prints nothing
    refused = kb_cli(data, "sync", str(folder), "--kb", "notes", "--watch", "5", "--dry-run", KB_LANG="en")
    assert refused.returncode == 2 and "--dry-run" in refused.stderr
    too_fast = kb_cli(data, "sync", str(folder), "--kb", "notes", "--watch", "0", KB_LANG="en")
    assert too_fast.returncode == 2 and "0.5" in too_fast.stderr
