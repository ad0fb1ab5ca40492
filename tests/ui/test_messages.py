"""Core errors and per-file failures in the session's language, through the safe renderer.

The expected text is what the core itself says for the same input (its code and parameters rendered
in that language by ui.safe), so these tests follow the catalog instead of copying its sentences."""
from __future__ import annotations

import pytest

from kb import KBError, KnowledgeBase
from tests.ui.conftest import frame, texts, wait_job
from ui import safe

LONG = "知" * 100  # 300 bytes: over any file-name limit
BAD_NAMES = ["../x", "a b", LONG, "x" * 300, "<img src=x>"]


def _core_error(settings, name: str) -> KBError:
    with pytest.raises(KBError) as raised:  # a KBError: never an OSError or a traceback
        KnowledgeBase.open(settings, name, create=True).close()
    return raised.value


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_new_name_gives_the_cores_message_in_the_session_language(app_env, lang, name):
    expected = safe.kb_message(_core_error(app_env.settings(), name), lang)
    at = app_env.app()
    if lang == "en":
        at.segmented_control(key="lang").set_value("en").run()
    at.text_input(key="kb_new_name").input(name).run()
    at.button(key="kb_create").click().run()

    assert not at.exception
    assert texts(at.error) == [expected]
    assert sorted(p.name for p in (app_env.data / "kbs").iterdir() if not p.name.startswith(".")) == ["notes"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_per_file_failures_are_in_the_session_language(app_env, lang, tmp_path):
    batch = [("empty.md", b""), ("binary.pdf", b"\x00\x01not a pdf")]
    with KnowledgeBase.open(app_env.settings(), "reference", create=True) as kb:
        expected = {f.file_name: f.error_message(lang) for f in kb.ingest_bytes(batch).files}
    at = app_env.app("upload")
    if lang == "en":
        at.segmented_control(key="lang").set_value("en").run()
    at.file_uploader[0].set_value([(n, data, "application/octet-stream") for n, data in batch]).run()
    at.button(key="upload_ingest").click().run()
    wait_job(at, "ingest")

    results = frame(at, "状态" if lang == "zh" else "Status")
    reasons = dict(zip(results["文件" if lang == "zh" else "File"],
                       results["原因 / 提示" if lang == "zh" else "Reason / warnings"]))
    assert reasons == expected and all(expected.values())


def test_a_job_error_is_shown_in_the_language_of_the_session_when_shown(app_env):
    """The error is kept whole and rendered when drawn: switching language changes it."""
    from ui import jobs

    error = KBError("kb.document_not_found", kb="notes", key="![x](http://127.0.0.2/j.png)")
    at = app_env.app("upload")
    job = jobs.start("ingest", "notes", lambda report: (_ for _ in ()).throw(error))
    assert job.wait(600)
    at.session_state["_jobs"] = {"ingest": job}
    at.run()
    at.run()  # the first sight of a finished job redraws the page once
    assert texts(at.error) == [safe.kb_message(error, "zh")]
    at.segmented_control(key="lang").set_value("en").run()
    assert texts(at.error) == [safe.kb_message(error, "en")]
    assert "`` python -m kb docs --kb notes ``" not in texts(at.error)[0]
    assert "` python -m kb docs --kb notes `" in texts(at.error)[0]  # a code span: copies as it reads
