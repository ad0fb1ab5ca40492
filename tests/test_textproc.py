import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import pytest

from kb.search import textproc
from kb.search.textproc import STOPWORDS, tokenize, warm_up

REPO = Path(__file__).resolve().parent.parent


def is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def test_chinese_question_keeps_content_words_and_drops_function_words():
    terms = tokenize("如何优化向量检索的延迟？")
    assert {"向量", "检索", "优化", "延迟"} <= set(terms)
    assert "的" not in terms and "如何" not in terms
    assert not any("？" in t or "?" in t for t in terms)


def test_identifiers_survive_whole_and_as_parts():
    terms = tokenize("把 chunk_size=500 写进 config.toml")
    assert "chunk_size" in terms and "500" in terms
    assert {"chunk", "size"} <= set(terms)  # so "chunk size" finds it
    assert "config.toml" in terms and "toml" in terms
    assert "=" not in "".join(terms)


def test_urls_ports_and_versions():
    terms = tokenize("打开 http://localhost:7860 用 Python 3.10 运行")
    assert "7860" in terms and "localhost" in terms and "http://localhost:7860" in terms
    assert "3.10" in terms and "python" in terms
    assert "打开" in terms and "运行" in terms


def test_sentence_punctuation_is_not_part_of_a_term():
    assert tokenize("See the end.") == ["see", "end"]
    assert tokenize("(faiss), [bm25]; rrf!") == ["faiss", "bm25", "rrf"]


def test_lower_case_and_full_width_forms_match_ascii():
    assert tokenize("FAISS Faiss faiss") == ["faiss"] * 3
    assert tokenize("ＦＡＩＳＳ１２３，") == ["faiss123"]


def test_no_whitespace_punctuation_or_stop_words_in_mixed_text():
    text = ("在 RAG 系统中，我们可以用 BM25 与向量检索（dense retrieval）做混合检索！\n"
            "\t端口是 8501；what is the top-k? 答：k=5。「引号」和 —— 破折号……")
    terms = tokenize(text)
    assert terms
    for term in terms:
        assert term.strip() == term and " " not in term  # the store joins terms with spaces
        assert not all(is_punct(ch) for ch in term)
        assert term not in STOPWORDS
    assert {"rag", "bm25", "向量", "检索", "dense", "retrieval", "8501", "top-k", "top", "引号"} <= set(terms)


def test_repeats_are_kept_for_term_frequency():
    assert tokenize("向量 向量 检索").count("向量") == 2


def test_empty_and_punctuation_only_text():
    assert tokenize("") == []
    assert tokenize("  \n\t ") == []
    assert tokenize("，。！？、…… ,.;:!?-- //") == []


def test_long_words_also_give_their_dictionary_parts():
    terms = tokenize("中华人民共和国国务院发布通知")
    assert {"中华", "共和国", "国务院"} <= set(terms)


def test_question_terms_meet_the_chunk_terms():
    chunk = set(tokenize("本文介绍混合检索：先用 BM25 关键词检索，再用向量检索，最后融合排序。"))
    question = tokenize("混合检索怎么融合 bm25 和向量检索？")
    assert question and set(question) <= chunk


def test_stopwords_is_a_frozenset_of_both_languages():
    assert isinstance(STOPWORDS, frozenset)
    assert {"的", "了", "我们", "the", "what", "how"} <= STOPWORDS
    assert "向量" not in STOPWORDS


def test_warm_up_loads_one_dictionary_even_when_called_concurrently():
    seen = []
    threads = [threading.Thread(target=lambda: (warm_up(), seen.append(textproc._jieba()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and all(tk is seen[0] for tk in seen)


def test_first_use_prints_nothing(tmp_path):
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); from kb.search.textproc import tokenize; tokenize('中文分词')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "jieba" not in out.stderr.lower() and "prefix dict" not in out.stderr.lower()
    assert out.stdout == ""


@pytest.mark.parametrize("text, term", [
    ("tar -xzf backup.tar.gz -C /srv", "-C"), ("tar -xzf backup.tar.gz -C /srv", "-xzf"),
    ("用 --directory 指定解压目录", "--directory"), ("printf '%s\\n' \"$name\"", "%s"),
    ("加上 --gpu-layers 35 把层放到显卡", "--gpu-layers"), ("less -R 显示颜色", "-R"),
])
def test_options_and_placeholders_are_terms_as_written(text, term):
    assert term in tokenize(text)


def test_a_one_letter_option_keeps_its_case_and_its_words_still_match():
    assert "-C" in tokenize("tar -C dir") and "-c" in tokenize("tar -c dir") and "-c" not in tokenize("tar -C dir")
    assert {"gpu", "layers"} <= set(tokenize("--gpu-layers 35"))  # `gpu layers` still finds the option
    assert not any(t.startswith("-") for t in tokenize("x-y 3-4 e-mail"))  # inner dashes are not options
    assert tokenize("x - y") == ["x", "y"]  # a lone dash is punctuation
