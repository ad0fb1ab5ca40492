"""The bad-input battery through the upload page, and an app start with the network blocked."""
from __future__ import annotations

from kb import KnowledgeBase
from tests.reliability.test_bad_inputs import cases
from tests.ui.conftest import frame, wait_job


def test_bad_files_through_the_upload_page(app_env):
    batch = cases()
    at = app_env.app("upload")
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data, _, _ in batch
                                   if not name.endswith(".exe")]).run()
    at.button(key="upload_ingest").click().run()
    wait_job(at, "ingest", timeout=120)
    assert not at.exception
    results = frame(at, "状态")
    expected = {name: status for name, _, status, _ in batch if not name.endswith(".exe")}
    shown = dict(zip(results["文件"], results["状态"])) if "文件" in results else {}
    assert len(results) == len(expected)
    assert list(results["状态"]).count("失败") == sum(1 for s in expected.values() if s == "failed")
    assert all(reason for reason, status in zip(results["原因 / 提示"], results["状态"]) if status == "失败")
    if shown:
        assert {n for n, s in shown.items() if s == "新增"} == {n for n, s in expected.items() if s == "added"}
    with KnowledgeBase.open(app_env.settings(), "notes", create=False) as kb:
        assert kb.check().ok


def test_app_start_and_a_search_make_no_network_call(app_env, no_network, ollama_down_url):
    app_env.ollama(ollama_down_url)  # loopback: allowed; nothing else is
    at = app_env.app()
    assert not at.exception
    at = app_env.app("retrieval")
    at.text_input(key="retrieval_query").input("大模型 是什么").run()
    assert not at.exception
    assert no_network == []
