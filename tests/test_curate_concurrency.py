"""Curation and sync under issue 7's model: a sync in another process holds the writer; an edit waits for it,
readers never do; Ctrl-C on the sync keeps what committed, reports the rest, and releases the edit."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

from kb import KnowledgeBase

from .conftest import REPO, make_settings
from .reliability.helpers import kb_env

SAFETY_S = 300  # a last-resort net only: every wait below ends on an event


def _wait_for(predicate, what):
    deadline = time.monotonic() + SAFETY_S
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_edit_waits_for_a_sync_which_ctrl_c_stops_keeping_what_committed(tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data)
    seed = tmp_path / "seed.md"
    seed.write_text("# 种子\n\n这是最早的一篇笔记。\n", encoding="utf-8")
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(400):
        (folder / f"n{i:03}.md").write_text(f"# 笔记 {i}\n\n" + f"第 {i} 篇，内容 {i * 17} 各不相同。\n" * 30,
                                            encoding="utf-8")
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest([seed])
        seed_id = kb.chunks("seed.md")[0].id
        proc = subprocess.Popen([sys.executable, "-m", "kb", "sync", str(folder), "--kb", "notes", "--json",
                                 "--no-progress"], cwd=REPO, env=kb_env(data), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: len(kb.documents()) >= 4, "the sync to commit a few files")  # readers never block
            edited = threading.Event()
            errors: list[BaseException] = []

            def edit():
                try:
                    kb.edit_chunk(seed_id, "种子笔记，手工改过：独一无二的暗号 zebra42。")
                    edited.set()
                except BaseException as exc:  # reported below, not swallowed
                    errors.append(exc)

            worker = threading.Thread(target=edit)
            worker.start()
            assert kb.search("笔记", mode="bm25", k=3).results  # a search while the writer is busy
            assert not edited.is_set()  # one writer: the edit waits for the sync
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=SAFETY_S)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        report = json.loads(out)
        assert report["cancelled"] and report["counts"]["not_done"] > 0 and report["counts"]["add"] >= 3
        worker.join(SAFETY_S)
        assert not errors and edited.is_set()
        docs = {d.file_name for d in kb.documents()}
        assert len(docs) == report["counts"]["add"] + 1
        assert kb.search("zebra42", mode="bm25", k=1).results[0].chunk.id == seed_id
        assert kb.check().ok
        # the next sync finishes the job, and agrees with its dry run
        dry = kb.sync(folder, dry_run=True)
        real = kb.sync(folder)
        assert dry.changes() == real.changes() and real.count("add") == report["counts"]["not_done"]
        assert kb.check().ok
