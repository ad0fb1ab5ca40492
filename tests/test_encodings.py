"""Text files in the encodings people actually have: each read as what it is, never as GBK by default.

Real files on disk, encoded with Python's codecs, read through the facade's loader and the CLI."""
from __future__ import annotations

import json
import os

import pytest

from kb.errors import IngestError
from kb.ingest.loaders import decode_text, load_bytes

from .reliability.helpers import kb_cli

JAPANESE = ("# 会議メモ\n\nこれは日本語の文書です。来週の月曜日に東京で会議があります。"
            "ベクトル検索とキーワード検索を組み合わせて使います。\n")
KOREAN = "# 회의록\n\n이것은 한국어 문서입니다. 다음 주 월요일에 서울에서 회의가 있습니다. 벡터 검색을 사용합니다.\n"
TRADITIONAL = "# 部署指南\n\n本文介紹如何在本地部署大語言模型，並使用向量資料庫進行檢索。首先安裝依賴，然後啟動服務。\n"
SIMPLIFIED = "# 部署指南\n\n本文介绍如何在本地部署大语言模型，并使用向量数据库进行检索。首先安装依赖，然后启动服务。\n"
CASES = [
    ("shift_jis", JAPANESE), ("euc_jp", JAPANESE), ("euc_kr", KOREAN), ("big5", TRADITIONAL),
    ("gbk", SIMPLIFIED), ("gb18030", SIMPLIFIED), ("utf-8", SIMPLIFIED), ("utf-8-sig", SIMPLIFIED),
    ("utf-16", SIMPLIFIED), ("cp1252", "# Notes\n\nCafé crème, résumé and naïve façades: déjà vu.\n"),
]


@pytest.mark.parametrize("encoding,text", CASES, ids=[c[0] for c in CASES])
def test_a_real_file_in_each_encoding_reads_back_exactly(tmp_path, encoding, text):
    path = tmp_path / f"{encoding}.md"
    path.write_bytes(text.encode(encoding))
    assert decode_text(path.name, path.read_bytes()) == text


@pytest.mark.parametrize("text,encoding", [("中文笔记", "gbk"), ("向量数据库选型", "gbk"), ("日本語のメモ", "euc_jp"),
                                           ("繁體中文筆記", "big5"), ("한국어 메모", "euc_kr"),
                                           ("Use FAISS for 向量检索 and BM25.", "gbk")])
def test_short_texts_are_not_misread(text, encoding):
    assert decode_text("short.txt", text.encode(encoding)) == text


def test_gbk_is_not_read_as_korean_or_japanese():
    """The bytes of short GBK texts are valid EUC-KR and Shift-JIS too; the Chinese reading wins."""
    for text in ("记录", "今天学习了大模型的部署方法。", "会议记录：明天下午三点开会。"):
        assert decode_text("a.txt", text.encode("gbk")) == text


def test_big5_is_text_not_binary():
    loaded = load_bytes("big5.md", TRADITIONAL.encode("big5"))
    assert "向量資料庫" in "".join(b.text for b in loaded.blocks)


def test_undecodable_garbage_gets_a_clear_message():
    garbage = bytes(b for b in os.urandom(20000) if b not in (0, 10, 13)) + bytes(range(1, 32)) * 200
    with pytest.raises(IngestError) as exc:
        decode_text("garbage.txt", garbage)
    assert exc.value.code in ("ingest.binary", "ingest.undecodable") and exc.value.file == "garbage.txt"


def test_the_cli_indexes_each_encoding_as_its_own_text(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for encoding, text in CASES:
        (folder / f"{encoding}.md").write_bytes(text.encode(encoding))
    data = tmp_path / "data"
    out = kb_cli(data, "ingest", *sorted(map(str, folder.iterdir())), "--kb", "enc", "--json", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert {f["status"] for f in json.loads(out.stdout)["files"]} == {"added"}
    for encoding, text in CASES:
        chunks = json.loads(kb_cli(data, "chunks", "--kb", "enc", "--doc", f"{encoding}.md", "--json").stdout)
        body = text.split("\n\n", 1)[1].strip()
        assert [c["text"] for c in chunks] == [body], encoding


def test_utf8_with_one_stray_byte_stays_utf8():
    text = SIMPLIFIED * 5
    data = text.encode("utf-8")
    at = data.index(b"\n", 200)  # between two characters: only the stray byte is lost
    damaged = data[:at] + b"\xff" + data[at:]
    decoded = decode_text("pasted.md", damaged)
    assert decoded.replace("\ufffd", "") == text


def test_gbk_with_an_ascii_header_is_not_taken_for_damaged_utf8():
    text = "title: notes\nversion: 1.0\n\n" + SIMPLIFIED * 3
    assert decode_text("header.md", text.encode("gbk")) == text
