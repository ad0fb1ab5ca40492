"""The Chunks page's curation controls through AppTest: edit and disable a chunk, see Retrieval change."""
from __future__ import annotations

from tests.ui.conftest import frame, texts


def test_edit_and_disable_on_the_chunks_page_change_retrieval(corpus_env):
    at = corpus_env.app("chunks")
    table = at.dataframe(key="chunks_table").value
    first_id = table["ID"].iloc[0]
    edit_key = next(t.key for t in at.text_area if t.key.startswith(f"chunks_edit_{first_id}"))
    at.text_area(key=edit_key).input("独角兽 飞船 使用 量子 引擎 航行")  # submitted with the form
    next(b for b in at.button if b.label.startswith("保存")).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.switch_page("pages/retrieval.py").run()
    at.text_input(key="retrieval_query").input("独角兽 飞船 量子 引擎").run()
    results = frame(at, "向量名次")
    assert not at.exception
    assert any("独角兽" in md for md in texts(at.markdown)) or "独角兽" in " ".join(map(str, results.to_numpy().ravel()))

    at.switch_page("pages/chunks.py").run()
    disable = next(b for b in at.button if b.label.startswith("停用"))
    disable.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "⊘" in at.dataframe(key="chunks_table").value["✎"].iloc[0]  # still shown, marked disabled
    assert any("已停用" in c.value for c in at.caption)
    states = {c.id: c for c in corpus_env.chunks()}
    assert first_id in states  # not deleted
    at.switch_page("pages/retrieval.py").run()
    at.text_input(key="retrieval_query").input("独角兽 飞船 量子 引擎").run()
    assert "独角兽" not in " ".join(map(str, frame(at, "向量名次").to_numpy().ravel()))


def test_empty_edit_on_the_page_is_refused_and_nothing_changes(corpus_env):
    at = corpus_env.app("chunks")
    before = {c.id: c.text for c in corpus_env.chunks()}
    edit_key = next(t.key for t in at.text_area if t.key.startswith("chunks_edit_"))
    at.text_area(key=edit_key).input("   ")
    next(b for b in at.button if b.label.startswith("保存")).click().run()
    assert at.error and "空" in at.error[0].value
    assert {c.id: c.text for c in corpus_env.chunks()} == before


def test_overview_backup_download_and_restore(corpus_env):
    at = corpus_env.app()
    assert any("最近 24 小时：2 个文档有变化" in m.value for m in at.subheader)  # the latest digest
    at.button(key="overview_export").click().run()
    assert not at.exception and not at.error
    archive = at.session_state["overview_archive"]
    assert archive[:0] == b"" and len(archive) > 10_000
    at.file_uploader(key="overview_import_file").set_value(
        [("notes.kbarchive.tar", archive, "application/x-tar")]).run()
    at.text_input(key="overview_import_as").input("restored").run()
    at.button(key="overview_import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("restored" in s.value for s in at.success)
    at.button(key="overview_import").click().run()  # again: the name is taken now
    assert at.error and "--as" in at.error[0].value


def test_upload_page_syncs_a_folder_after_a_preview(app_env, tmp_path):
    from tests.ui.conftest import wait_job

    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# 甲\n\n第一篇。\n", encoding="utf-8")
    (folder / "sub" / "b.md").write_text("# 乙\n\n第二篇。\n", encoding="utf-8")
    at = app_env.app("upload")
    at.text_input(key="upload_sync_folder").input(str(folder)).run()
    at.button(key="upload_sync_dry").click().run()
    wait_job(at, "sync")
    assert any("预览" in s.value and "新增 2" in s.value for s in at.success), [s.value for s in at.success]
    assert app_env.chunks() == []
    at.button(key="upload_sync_run").click().run()
    wait_job(at, "sync")
    assert any("新增 2" in s.value for s in at.success)
    assert {c.file_name for c in app_env.chunks()} == {"a.md", "sub › b.md"}
