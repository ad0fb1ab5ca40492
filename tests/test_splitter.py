from kb.ingest.loaders import Block
from kb.ingest.splitter import split_blocks, split_text

PARA = ("检索增强生成先检索再回答。" * 3 + "它不需要重新训练模型，只需要把文档切成小片段并建立索引，"
        "查询时找出最相关的片段交给模型。" + "更新知识时只需修改相应的片段。" * 4)


def test_pieces_respect_the_size_and_prefer_sentence_ends():
    pieces = list(split_blocks([Block(PARA * 3)], size=120, overlap=30))
    assert len(pieces) > 3
    assert all(len(p.text) <= 120 for p in pieces)
    assert sum(p.text.endswith(("。", "，")) for p in pieces) >= len(pieces) - 1


def test_overlap_repeats_the_last_sentence():
    pieces = list(split_blocks([Block(PARA * 2)], size=100, overlap=40))
    repeated = sum(1 for a, b in zip(pieces, pieces[1:]) if a.text[-15:] in b.text)
    assert repeated >= 1


def test_no_text_is_lost():
    text = PARA * 4
    pieces = list(split_blocks([Block(text)], size=90, overlap=0))
    assert "".join(p.text for p in pieces) == text


def test_code_blocks_stay_whole_when_they_fit():
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(10)) + "\n```"
    blocks = [Block("前言。" * 20, heading_path=("A",)), Block(code, heading_path=("A",), kind="code")]
    pieces = list(split_blocks(blocks, size=150, overlap=20))
    assert any(code in p.text for p in pieces)


def test_sections_are_not_mixed_and_keep_their_heading_path():
    blocks = [Block("第一节内容。", heading_path=("部署", "第一步")), Block("第二节内容。", heading_path=("部署", "第三步"))]
    pieces = list(split_blocks(blocks, size=300, overlap=20))
    assert [p.heading_path for p in pieces] == [("部署", "第一步"), ("部署", "第三步")]


def test_pdf_chunks_record_the_pages_they_span():
    blocks = [Block("甲" * 60 + "。", page=1), Block("乙" * 60 + "。", page=2)]
    pieces = list(split_blocks(blocks, size=200, overlap=0))
    assert (pieces[0].page, pieces[0].page_end) == (1, 2)


def test_long_unbroken_text_is_cut_by_characters():
    assert [len(p) for p in split_text("字" * 250, 100)] == [100, 100, 50]


def test_commas_are_used_before_characters():
    text = "，".join(["短句内容很长很长"] * 30)
    pieces = split_text(text, 60)
    assert all(len(p) <= 60 for p in pieces) and all(p.endswith("，") for p in pieces[:-1])
