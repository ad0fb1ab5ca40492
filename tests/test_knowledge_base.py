"""The facade over real files, real SQLite and real FAISS in a temp folder (hash embedder for speed)."""
from __future__ import annotations

import json
import shutil

import pytest

from kb import EmbedderMismatch, KBError, KnowledgeBase, KnowledgeBaseNotFound
from kb.embedders import HashEmbedder

from .conftest import corpus_files, make_settings
from .files import CORRUPT_PDF, cjk_pdf, encrypted_pdf, scanned_pdf


def test_ingest_the_corpus_then_nothing_changes_on_a_second_run(kb):
    files = corpus_files()
    first = kb.ingest(files)
    assert [f.status for f in first.files] == ["added"] * len(files)
    # identical chunks of one file (a question asked twice in a transcript) are embedded once
    assert all(f.n_chunks > 0 and 0 < f.n_embedded <= f.n_chunks for f in first.files)
    embedded_before = kb.embedder.embedded_texts
    second = kb.ingest(files)
    assert [f.status for f in second.files] == ["unchanged"] * len(files)
    assert kb.embedder.embedded_texts == embedded_before
    assert kb.check().ok


def test_every_chunk_carries_its_provenance(kb):
    kb.ingest(corpus_files())
    chunks = kb.chunks()
    pdf = [c for c in chunks if c.file_name.endswith(".pdf")]
    md = [c for c in chunks if c.file_name.endswith(".md")]
    assert pdf and all(c.page is not None and c.page >= 1 for c in pdf)
    assert any(c.heading_path for c in md)
    assert all(c.kb == "notes" and c.doc_id and c.content_hash and len(c.id) == 20 for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)
    by_doc = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c.position)
    assert all(sorted(p) == list(range(len(p))) for p in by_doc.values())


def test_ids_are_deterministic_across_knowledge_bases_folders(tmp_path):
    files = corpus_files()[:2]
    ids = []
    for sub in ("a", "b"):
        with KnowledgeBase.open(make_settings(tmp_path / sub), "notes") as kb:
            kb.ingest(files)
            ids.append([c.id for c in kb.chunks()])
    assert ids[0] == ids[1]


def test_changed_file_replaces_its_chunks_and_embeds_only_new_text(kb, tmp_path):
    note = tmp_path / "note.md"
    note.write_text("# 部署\n\n第一段：安装 Ollama。\n\n第二段：创建模型。\n", encoding="utf-8")
    assert kb.ingest([note]).files[0].status == "added"
    note.write_text("# 部署\n\n第一段：安装 Ollama。\n\n第二段：创建模型。\n\n## 新的一节\n\n第三段：新增内容。\n",
                    encoding="utf-8")
    result = kb.ingest([note]).files[0]
    assert result.status == "replaced"
    assert result.n_embedded == 1  # the unchanged section came from the cache
    texts = [c.text for c in kb.chunks("note.md")]
    assert any("第三段" in t for t in texts)
    assert kb.check().ok


def test_delete_removes_chunks_vectors_and_keywords(kb):
    files = corpus_files()
    kb.ingest(files)
    victim = files[0].name
    before = kb.info().n_chunks
    doc = kb.delete(victim)
    assert kb.document(victim) is None
    assert kb.info().n_chunks == before - doc.n_chunks
    assert kb.indexes.current.faiss.ntotal == before - doc.n_chunks
    hits = kb.search("本地知识问答助手", k=20)
    assert all(r.chunk.file_name != victim for r in hits.results)
    assert kb.check().ok
    with pytest.raises(KBError, match="No document"):
        kb.delete(victim)


def test_bad_files_fail_one_by_one_and_the_knowledge_base_keeps_everything(kb, tmp_path):
    good = corpus_files()[1]
    kb.ingest([good])
    before = (kb.info().n_documents, kb.info().n_chunks)
    plain = cjk_pdf(["有效的中文 PDF 内容，用来测试加密。"])
    bad = {
        "corrupt.pdf": CORRUPT_PDF,
        "locked.pdf": encrypted_pdf(plain, "secret"),
        "scan.pdf": scanned_pdf(),
        "empty.md": b"",
        "binary.md": bytes(range(256)) * 10,
        "notes.doc": b"PK\x03\x04 word",  # legacy Word; .docx is read since issue 11
        "bad\u202etxt.md": "正常内容".encode(),
    }
    paths = []
    for name, data in bad.items():
        p = tmp_path / name
        p.write_bytes(data)
        paths.append(p)
    ok = tmp_path / "ok.md"
    ok.write_text("# 好文件\n\n这一份是正常的。", encoding="utf-8")
    report = kb.ingest(paths + [ok])
    statuses = {f.file_name: f for f in report.files}
    assert statuses["ok.md"].status == "added"
    failed = [f for f in report.files if f.status == "failed"]
    assert len(failed) == len(bad)
    for f in failed:
        assert f.error and len(f.error) > 15
    assert "password" in statuses["locked.pdf"].error
    assert "OCR" in statuses["scan.pdf"].error
    assert "empty" in statuses["empty.md"].error
    assert "unsupported" in statuses["notes.doc"].error
    assert (kb.info().n_documents, kb.info().n_chunks) >= (before[0] + 1, before[1])
    assert kb.check().ok


def test_oversized_file_is_refused_before_reading(tmp_path):
    settings = make_settings(tmp_path / "data", storage={"max_file_mb": 0.001})
    big = tmp_path / "big.md"
    big.write_text("大" * 2000, encoding="utf-8")
    with KnowledgeBase.open(settings, "notes") as kb:
        result = kb.ingest([big]).files[0]
    assert result.status == "failed" and "limit" in result.error and "max_file_mb" in result.error


def test_missing_path_is_a_per_file_failure(kb, tmp_path):
    report = kb.ingest([tmp_path / "nope.md"])
    assert report.files[0].status == "failed" and "nope.md" == report.files[0].file_name


def test_uploaded_names_with_paths_are_refused(kb):
    report = kb.ingest_bytes([("../../etc/evil.md", "内容".encode()), ("ok.md", "内容正常。".encode())])
    assert [f.status for f in report.files] == ["failed", "added"]
    assert "path separator" in report.files[0].error
    assert not any(p.name == "evil.md" for p in kb.store.folder.parent.parent.rglob("evil.md"))


def test_state_survives_reopen_and_indexes_are_reused(settings):
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files())
        n = kb.info().n_chunks
        gen = kb.store.generation()
    folder = settings.data_dir / "kbs" / "notes"
    assert json.loads((folder / "index.json").read_text())["generation"] == gen
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.indexes.current.faiss.ntotal == n and kb.check().ok


def test_stale_index_files_are_rebuilt_from_the_database(settings):
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[:2])
    folder = settings.data_dir / "kbs" / "notes"
    (folder / "index.faiss").write_bytes(b"garbage")
    shutil.rmtree(folder / "bm25")
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.check().ok
        assert kb.search("模型", k=3).results


def test_other_embedder_is_a_clear_error_and_rebuild_fixes_it(settings, tmp_path):
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:3])
        n_docs = kb.info().n_documents

    class Other(HashEmbedder):
        name = "hash:other"

    with pytest.raises(EmbedderMismatch, match="rebuild"):
        KnowledgeBase.open(settings, "notes", embedder=Other(dim=128))
    report = KnowledgeBase.rebuild(settings, "notes", embedder=Other(dim=128))
    assert report.ok and report.count("replaced") == n_docs
    with KnowledgeBase.open(settings, "notes", embedder=Other(dim=128)) as kb:
        assert kb.info().embedder == "hash:other" and kb.info().dim == 128 and kb.check().ok


def test_reindex_with_new_chunk_size(settings):
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        before = kb.info().n_chunks
    smaller = settings.with_overrides(chunking={"size": 150, "overlap": 20})
    with KnowledgeBase.open(smaller, "notes") as kb:
        report = kb.reindex()
        assert report.files[0].status == "replaced"
        assert kb.info().n_chunks > before and kb.check().ok


def test_list_and_remove_knowledge_bases(settings):
    for name in ("notes", "work"):
        with KnowledgeBase.open(settings, name) as kb:
            kb.ingest_bytes([("a.md", "# 标题\n\n内容。".encode())])
    assert [i.name for i in KnowledgeBase.list_all(settings)] == ["notes", "work"]
    KnowledgeBase.remove(settings, "work")
    assert [i.name for i in KnowledgeBase.list_all(settings)] == ["notes"]
    with pytest.raises(KnowledgeBaseNotFound):
        KnowledgeBase.open(settings, "work", create=False)
    with pytest.raises(KBError, match="not a valid knowledge base name"):
        KnowledgeBase.open(settings, "../x")


def test_ingest_makes_no_network_call(settings, no_network):
    with KnowledgeBase.open(settings, "notes") as kb:
        report = kb.ingest(corpus_files())
        kb.search("RAG 为什么不需要训练模型")
    assert report.ok
    assert no_network == []


def test_garbage_pdf_pages_become_warnings(kb):
    data = cjk_pdf(["正常的一页内容，讲向量检索。", "", "第三页也正常。"])
    report = kb.ingest_bytes([("mixed.pdf", data)])
    f = report.files[0]
    assert f.status == "added" and any("no text" in w for w in f.warnings)
    assert kb.document("mixed.pdf").warnings == f.warnings
