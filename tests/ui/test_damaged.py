"""A damaged knowledge base (a 0-byte kb.sqlite) never breaks the app: it is listed with a marker, every
page shows its damage and advice instead of a traceback, and the healthy ones work as before."""
from __future__ import annotations

from kb import KnowledgeBase
from kb.types import KBInfo
from tests.ui.conftest import MD, texts
from ui import safe

PAGES = ("overview", "upload", "chunks", "retrieval", "chat")


def test_a_damaged_knowledge_base_never_breaks_the_app(app_env):
    app_env.ingest(MD)
    KnowledgeBase.open(app_env.settings(), "broken", create=True).close()
    database = app_env.data / "kbs" / "broken" / "kb.sqlite"
    database.write_bytes(b"")
    before = sorted((p.relative_to(database.parent), p.stat().st_size) for p in database.parent.rglob("*"))
    info = next(i for i in KnowledgeBase.list_all(app_env.settings()) if i.name == "broken")
    assert info.problem_code

    at = app_env.app()
    assert not at.exception
    assert "⚠ broken" in at.selectbox(key="kb").options and "notes" in at.selectbox(key="kb").options
    for page in PAGES:  # the healthy one: every page as before
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, page
        assert not at.error, (page, texts(at.error))

    at.selectbox(key="kb").set_value("broken").run()
    for lang in ("zh", "en"):
        at.segmented_control(key="lang").set_value(lang).run()
        advice = safe.coded(info.problem_code, info.problem_params, lang)
        for page in PAGES:
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, page
            assert advice in [m.value for m in at.markdown], page
            assert any("broken" in e for e in texts(at.error)), page

    at.switch_page("pages/overview.py").run()
    at.selectbox(key="kb").set_value("notes").run()
    at.switch_page("pages/chunks.py").run()
    assert not at.exception and len(at.dataframe(key="chunks_table").value) > 0
    after = sorted((p.relative_to(database.parent), p.stat().st_size) for p in database.parent.rglob("*"))
    assert after == before  # showing the damage changed nothing on disk
