"""Messages of the knowledge base itself: names, opening, listing, ingest batches."""

MESSAGES: dict[str, tuple[str, str]] = {
    "legacy.text": ("{text}", "{text}"),  # TRANSITION: removed once every raise site has a code
    "kb.name_invalid": (
        "“{name}” 不是有效的知识库名称：请使用字母、数字、- 和 _（最多 64 个字符）",
        "'{name}' is not a valid knowledge base name: use letters, digits, - and _ (up to 64 characters)"),
    "kb.not_found": (
        "{folder} 中没有知识库 “{name}”：导入文件即可创建，例如 `python -m kb ingest FILES --kb {name}`",
        "There is no knowledge base '{name}' in {folder}: create it by ingesting files, e.g. "
        "`python -m kb ingest FILES --kb {name}`"),
    "kb.deleted": (
        "知识库 “{name}” 已被删除（在另一个窗口或命令行中）。请选择另一个知识库，或新建一个。",
        "Knowledge base '{name}' was deleted (in another window or from the command line). Choose another "
        "knowledge base, or create a new one."),
    "kb.question_empty": ("问题是空的：请输入要查找的内容", "The question is empty: type what you are looking for"),
    "kb.document_not_found": (
        "知识库 “{kb}” 中没有文档 “{key}”：用 `python -m kb docs --kb {kb}` 查看文档列表",
        "No document '{key}' in knowledge base '{kb}': see `python -m kb docs --kb {kb}`"),
    "kb.original_missing_kept": (
        "{file} 的原始文件已不在知识库中，分块保持原样；要按新设置重新分块，请重新导入该文件",
        "the stored original of {file} is missing, so its chunks were kept as they are; ingest the file again "
        "to re-chunk it with the new settings"),
    "batch.duplicate_name": (
        "同一批文件中出现了两次这个文件名：只导入了第一个；请给其中一个改名",
        "the same file name appears twice in this batch: only the first was ingested; rename one of them"),
    "batch.too_large": (
        "文件大小为 {mb} MB，超过 {limit} MB 的上限：请拆分文件，或在 config.toml 中调大 [storage] max_file_mb",
        "the file is {mb} MB, over the {limit} MB limit: split it, or raise [storage] max_file_mb in config.toml"),
}
