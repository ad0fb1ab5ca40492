"""Messages of the knowledge base itself: names, opening, storage, writing, checking."""

MESSAGES: dict[str, tuple[str, str]] = {
    "legacy.text": ("{text}", "{text}"),  # TRANSITION: removed once every raise site has a code
    "kb.name_invalid": (
        "“{name}” 不是有效的知识库名称：请使用字母、数字、- 和 _（最多 64 个字符）",
        "'{name}' is not a valid knowledge base name: use letters, digits, - and _ (up to 64 characters)"),
    "kb.not_found": (
        "{folder} 中没有知识库 “{name}”：导入文件即可创建，例如 `python -m kb ingest FILES --kb {name}`",
        "There is no knowledge base '{name}' in {folder}: create it by ingesting files, e.g. "
        "`python -m kb ingest FILES --kb {name}`"),
    "kb.question_empty": ("问题是空的：请输入要查找的内容", "The question is empty: type what you are looking for"),
    "kb.document_not_found": (
        "知识库 “{kb}” 中没有文档 “{key}”：用 `python -m kb docs --kb {kb}` 查看文档列表",
        "No document '{key}' in knowledge base '{kb}': see `python -m kb docs --kb {kb}`"),
}
